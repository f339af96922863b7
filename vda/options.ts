/**
 * The component options of a `prepare` job and their validation (windows.md §3.5, §3.6; the option
 * names follow the Image Portability Service: InstallMisa, XdReconfigure, InstallMcsio, InstallPvs,
 * CloudProvisioningType). Every rule the service documents is enforced here, before anything is touched.
 */
import { CeError } from '../core/errors.js';

export type ProvisioningType = 'Mcs' | 'Pvs';

/** One `XenDesktopVdaSetup.exe /reconfigure` parameter, as the service's XdReconfigure list gives it. */
export interface XdParameter {
  parameterName: string;
  /** '' (or absent) for a switch without value, e.g. enable_hdx_ports. */
  parameterValue?: string;
}

export interface ComponentOptions {
  /** MCS or PVS on the target. InstallMisa/InstallMcsio require Mcs; Pvs removes CVhdFilter. */
  provisioningType?: ProvisioningType;
  /** Install the Machine Identity Service Agent when it is missing. */
  installMisa?: boolean;
  /** CE extension: uninstall MISA (e.g. for a PVS target). Exclusive with installMisa. */
  uninstallMisa?: boolean;
  /** Install the MCS I/O driver when it is missing. Forbidden with provisioningType Pvs. */
  installMcsio?: boolean;
  /** The PVS server version whose target device software to install (e.g. "2203.0.4000"). */
  installPvs?: string;
  /** Parameters for `XenDesktopVdaSetup.exe /reconfigure`; must hold `controllers` or `site_guid`. */
  xdReconfigure?: XdParameter[];
}

/** The validated, normalised form the planners use. */
export interface NormalizedComponents {
  provisioningType?: ProvisioningType;
  misa?: 'install' | 'uninstall';
  mcsio: boolean;
  pvsVersion?: string;
  reconfigure?: {
    /** FQDNs, in the order given, duplicates removed. */
    controllers?: string[];
    siteGuid?: string;
    port?: number;
    /** Every parameter, normalised (controllers space-separated, GUID braced), in the order given. */
    parameters: Array<{ name: string; value?: string }>;
  };
}

/** Parameters that take a TCP port. */
const PORT_PARAMS = new Set(['portnumber', 'wem_agent_port', 'wem_cached_data_sync_port', 'wem_agent_cached_data_sync_port', 'wem_port']);
/** Parameters that take a list of FQDNs (space, semicolon or comma separated). */
const HOST_LIST_PARAMS = new Set(['controllers', 'wem_cloud_connectors']);
/** Parameters that take one host name. */
const HOST_PARAMS = new Set(['wem_server']);
/** Switches the CE sets itself; the job may not pass them (they would break the unattended run). */
const RESERVED_PARAMS = new Set(['reconfigure', 'quiet', 'passive', 'noreboot', 'logpath', 'noresume']);

const NAME_RE = /^[a-z][a-z0-9_]{0,63}$/;
const GUID_RE = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i;
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
const PVS_VERSION_RE = /^\d{4}(\.\d{1,6}){0,3}$|^\d{1,2}(\.\d{1,6}){1,3}$/;

function invalid(field: string, message: string, hint?: string): CeError {
  return new CeError('VDA_OPTION_INVALID', message, {
    status: 400,
    hint: hint ?? 'Fix the option and resubmit the job.',
    details: { field },
  });
}

/** A DNS host name: dot-separated labels, at most 253 characters (a single label is allowed: NetBIOS-style DDC names work too). */
export function isHostName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.replace(/\.$/, '').split('.');
  return labels.every((l) => LABEL_RE.test(l));
}

export function parseHostList(field: string, raw: string): string[] {
  const items = raw.split(/[\s;,]+/).filter((x) => x.length > 0);
  if (items.length === 0) throw invalid(field, `${field} is empty.`, 'Give one or more FQDNs separated by spaces or semicolons.');
  const out: string[] = [];
  for (const h of items) {
    if (!isHostName(h)) throw invalid(field, `${field}: "${h}" is not a valid FQDN.`, 'Give FQDNs such as ddc1.corp.example.com, separated by spaces or semicolons.');
    if (!out.some((x) => x.toLowerCase() === h.toLowerCase())) out.push(h);
  }
  return out;
}

export function parsePort(field: string, raw: string | number): number {
  const s = String(raw).trim();
  if (!/^\d{1,5}$/.test(s)) throw invalid(field, `${field}: "${s}" is not a port number.`, 'A port is an integer from 1 to 65535.');
  const n = Number(s);
  if (n < 1 || n > 65535) throw invalid(field, `${field}: ${n} is out of range.`, 'A port is an integer from 1 to 65535.');
  return n;
}

/** A site GUID in the braced, lower-case form the installer and the registry use. */
export function parseGuid(field: string, raw: string): string {
  const m = GUID_RE.exec(raw.trim());
  if (!m) throw invalid(field, `${field}: "${raw}" is not a GUID.`, 'Give the AD site GUID as {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}.');
  return `{${m[1]!.toLowerCase()}}`;
}

/** Characters that never belong in an installer argument (quotes, control characters, PowerShell/cmd metacharacters). */
function checkPlainValue(field: string, v: string): void {
  // eslint-disable-next-line no-control-regex
  if (/["'`$%^&|<>\x00-\x1f\x7f]/.test(v)) {
    throw invalid(field, `${field}: the value contains characters not allowed in an installer argument.`, 'Remove quotes, $, %, ^, &, |, <, > and control characters.');
  }
  if (v.length > 1024) throw invalid(field, `${field}: the value is longer than 1024 characters.`);
}

/**
 * Validate the component options (throws VDA_OPTION_INVALID / VDA_OPTION_CONFLICT, status 400)
 * and return the normalised form. Pure: reads nothing from the image or the component source.
 */
export function validateComponentOptions(o: ComponentOptions): NormalizedComponents {
  const out: NormalizedComponents = { mcsio: false };
  if (o.provisioningType !== undefined) {
    if (o.provisioningType !== 'Mcs' && o.provisioningType !== 'Pvs') {
      throw invalid('provisioningType', `provisioningType must be "Mcs" or "Pvs", not ${JSON.stringify(o.provisioningType)}.`);
    }
    out.provisioningType = o.provisioningType;
  }
  for (const f of ['installMisa', 'uninstallMisa', 'installMcsio'] as const) {
    if (o[f] !== undefined && typeof o[f] !== 'boolean') throw invalid(f, `${f} must be true or false.`);
  }
  if (o.installMisa && o.uninstallMisa) {
    throw conflict('uninstallMisa', 'installMisa and uninstallMisa are mutually exclusive.');
  }
  // The service: "Configuring InstallMisa to true or InstallMcsio to true also requires configuring CloudProvisioningType to Mcs".
  if (o.installMcsio && out.provisioningType === 'Pvs') {
    throw conflict('installMcsio', 'installMcsio is forbidden with provisioningType "Pvs": the MCS I/O driver makes PVS images freeze (windows.md §3.6).', 'Drop installMcsio, or prepare for MCS.');
  }
  if ((o.installMisa || o.installMcsio) && out.provisioningType !== 'Mcs') {
    throw conflict(o.installMisa ? 'installMisa' : 'installMcsio', `${o.installMisa ? 'installMisa' : 'installMcsio'} requires provisioningType "Mcs".`, 'Set provisioningType to "Mcs".');
  }
  if (o.installMisa) out.misa = 'install';
  if (o.uninstallMisa) out.misa = 'uninstall';
  out.mcsio = o.installMcsio === true;

  if (o.installPvs !== undefined) {
    if (typeof o.installPvs !== 'string' || !PVS_VERSION_RE.test(o.installPvs.trim())) {
      throw invalid('installPvs', `installPvs must be the PVS server version (e.g. "2203.0.4000" or "7.33"), not ${JSON.stringify(o.installPvs)}.`);
    }
    if (out.provisioningType === 'Mcs') {
      throw conflict('installPvs', 'installPvs is for PVS targets; provisioningType is "Mcs".', 'Set provisioningType to "Pvs" or drop installPvs.');
    }
    out.pvsVersion = o.installPvs.trim();
    out.provisioningType ??= 'Pvs';
  }

  if (o.xdReconfigure !== undefined) out.reconfigure = validateReconfigure(o.xdReconfigure);
  return out;
}

function conflict(field: string, message: string, hint?: string): CeError {
  return new CeError('VDA_OPTION_CONFLICT', message, { status: 400, hint: hint ?? 'Remove one of the conflicting options.', details: { field } });
}

function validateReconfigure(list: XdParameter[]): NonNullable<NormalizedComponents['reconfigure']> {
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid('xdReconfigure', 'xdReconfigure must be a non-empty list of {parameterName, parameterValue}.');
  }
  if (list.length > 64) throw invalid('xdReconfigure', `xdReconfigure has ${list.length} parameters; at most 64 are accepted.`);
  const r: NonNullable<NormalizedComponents['reconfigure']> = { parameters: [] };
  const seen = new Set<string>();
  for (const [i, p] of list.entries()) {
    const field = `xdReconfigure[${i}]`;
    if (!p || typeof p !== 'object' || typeof p.parameterName !== 'string') throw invalid(field, `${field} needs a parameterName.`);
    const name = p.parameterName.trim().replace(/^\//, '').toLowerCase();
    if (!NAME_RE.test(name)) throw invalid(field, `${field}: "${p.parameterName}" is not a valid installer parameter name.`, 'Names are letters, digits and underscores, e.g. controllers, site_guid, wem_server.');
    if (RESERVED_PARAMS.has(name)) throw invalid(field, `${field}: /${name} is set by the CE itself and may not be passed.`);
    if (seen.has(name)) throw invalid(field, `${field}: ${name} is given twice.`);
    seen.add(name);
    if (p.parameterValue !== undefined && typeof p.parameterValue !== 'string' && typeof p.parameterValue !== 'number') {
      throw invalid(field, `${field}: parameterValue must be a string.`);
    }
    const raw = p.parameterValue === undefined ? '' : String(p.parameterValue).trim();
    const f = `${field} (${name})`;
    let value: string | undefined = raw === '' ? undefined : raw;
    if (name === 'controllers' || HOST_LIST_PARAMS.has(name)) {
      const hosts = parseHostList(f, raw);
      if (name === 'controllers') r.controllers = hosts;
      // The installer and ListOfDDCs take a space-separated list (windows.md §3.5).
      value = hosts.join(' ');
    } else if (name === 'site_guid') {
      value = r.siteGuid = parseGuid(f, raw);
    } else if (PORT_PARAMS.has(name)) {
      const port = parsePort(f, raw);
      if (name === 'portnumber') r.port = port;
      value = String(port);
    } else if (HOST_PARAMS.has(name)) {
      if (!isHostName(raw)) throw invalid(f, `${f}: "${raw}" is not a valid host name.`);
    } else if (name.startsWith('wem_') && name.endsWith('_port')) {
      value = String(parsePort(f, raw));
    } else if (value !== undefined) {
      checkPlainValue(f, value);
    }
    r.parameters.push(value === undefined ? { name } : { name, value });
  }
  if (r.controllers && r.siteGuid) {
    throw conflict('xdReconfigure', 'xdReconfigure: controllers and site_guid are mutually exclusive.', 'Give either the DDC/Cloud Connector FQDNs or the AD site GUID, not both.');
  }
  if (!r.controllers && !r.siteGuid) {
    throw invalid('xdReconfigure', 'xdReconfigure requires controllers or site_guid.', 'Add {parameterName: "controllers", parameterValue: "cc1.corp.example.com cc2.corp.example.com"}.');
  }
  return r;
}
