/**
 * Domain unjoin (windows.md §3.4).
 * - `offline` (opt-in, unsupported by Microsoft): SECURITY `Policy` attributes back to a workgroup
 *   (PolPrDmN = WORKGROUP, empty PolPrDmS/PolDnDDN/PolDnTrN, zero PolDnDmG), the machine secret
 *   `Policy\Secrets\$MACHINE.ACC` deleted (never re-encrypted), cached logons `Cache\NL$n` wiped,
 *   `Tcpip\Parameters` Domain/NV Domain cleared, Netlogon demand-start, Winlogon default domain cleared.
 *   Nothing reaches a domain controller, so the computer account stays in AD.
 * - `firstBoot`: a declarative "stage script" change for the first-boot runner (vda/) that runs
 *   `Remove-Computer` online. It requires network isolation: an unjoin that reaches a DC removes
 *   (disables) the computer account and breaks the source machine's domain membership.
 * A machine that is not joined gives an empty plan with a note.
 */
import { CeError } from '../../core/errors.js';
import { REG } from '../../disk/hive/types.js';
import { controlSetsToEdit, currentControlSet } from '../../disk/windows/hive-access.js';
import type { WindowsImage } from '../../disk/windows/image.js';
import { readMembership } from '../../disk/windows/inspect.js';
import { emptyPlan, showValue, whereOf, type HiveName, type Plan, type RegistryChange } from '../../disk/windows/plan.js';
import { num, str } from '../../disk/windows/registry-facts.js';

export type UnjoinMode = 'offline' | 'firstBoot';

export interface UnjoinOptions {
  mode: UnjoinMode;
  /** Workgroup to join (default WORKGROUP). */
  workgroup?: string;
  /** Whether the prepare VM's network is isolated from the domain (firstBoot requires it; default true = the CE's isolation). */
  networkIsolation?: boolean;
}

const MODULE = 'domain';
export const ACCOUNT_NOTE =
  'An unjoin that reaches a domain controller removes (disables) the computer account in Active Directory, which breaks the domain membership of the source machine the image came from; keep the prepare network isolated.';

export function lsaString(s: string): Buffer {
  const str = Buffer.from(s, 'utf16le');
  const b = Buffer.alloc(8 + str.length + 2);
  b.writeUInt16LE(str.length, 0);
  b.writeUInt16LE(str.length + 2, 2);
  b.writeUInt32LE(8, 4);
  str.copy(b, 8);
  return b;
}

export async function planUnjoin(img: WindowsImage, opts: UnjoinOptions): Promise<Plan> {
  const plan = emptyPlan();
  const system = await img.hive('SYSTEM');
  const security = await img.hive('SECURITY');
  const ccs = currentControlSet(system);
  const m = readMembership(system, security, ccs);
  if (m.kind !== 'domain' && !m.machineSecret) {
    plan.notes.push(`Not joined to a domain (${m.name ? `workgroup ${m.name}` : 'no domain SID'}): nothing to unjoin.`);
    return plan;
  }
  const workgroup = (opts.workgroup ?? 'WORKGROUP').toUpperCase();
  if (!/^[A-Z0-9!@#$%^&'().\-_{}~ ]{1,15}$/.test(workgroup)) {
    throw new CeError('DOMAIN_BAD_WORKGROUP', `"${opts.workgroup}" is not a valid workgroup name (1–15 NetBIOS characters).`, { status: 400 });
  }

  if (opts.mode === 'firstBoot') {
    if (opts.networkIsolation === false) {
      throw new CeError('DOMAIN_UNJOIN_NEEDS_ISOLATION', 'A first-boot unjoin needs the prepare VM isolated from the domain controllers.', {
        hint: `Enable network isolation, or use domainUnjoin "offline". ${ACCOUNT_NOTE}`,
        status: 400,
      });
    }
    plan.changes.push({
      kind: 'stage-script', module: MODULE, action: 'stage-script', name: 'unjoin-domain', priority: 3000, language: 'powershell',
      where: 'first-boot runner (vda/)', requires: ['network-isolation'],
      content: unjoinScript(workgroup), before: null, after: { name: 'unjoin-domain', priority: 3000 },
      reason: `Leave ${m.dnsDomain ?? m.name ?? 'the domain'} online with Remove-Computer at first boot (the supported way).`,
    });
    plan.warnings.push(ACCOUNT_NOTE);
    return plan;
  }

  // offline
  const pol = (name: string) => security.key(`Policy\\${name}`);
  const setDefault = (name: string, data: Buffer, reason: string) => {
    const k = pol(name);
    const cur = k?.value('');
    if (cur && cur.raw.equals(data)) return;
    plan.changes.push(reg('SECURITY', `Policy\\${name}`, '', 'set-value', cur, cur?.type ?? REG.NONE, data, reason));
  };
  setDefault('PolPrDmN', lsaString(workgroup), `Primary domain name ${m.name ?? '?'} → workgroup ${workgroup}.`);
  setDefault('PolPrDmS', Buffer.alloc(0), `No primary domain SID (was ${m.domainSid ?? 'empty'}): a workgroup member.`);
  setDefault('PolDnDDN', Buffer.alloc(0), `No DNS domain (was ${m.dnsDomain ?? 'empty'}).`);
  setDefault('PolDnTrN', Buffer.alloc(0), `No forest (was ${m.forest ?? 'empty'}).`);
  setDefault('PolDnDmG', Buffer.alloc(16), 'No domain GUID.');
  if (security.key('Policy\\Secrets\\$MACHINE.ACC')) {
    plan.changes.push({
      kind: 'registry', module: MODULE, action: 'delete-key', hive: 'SECURITY', key: 'Policy\\Secrets\\$MACHINE.ACC',
      where: whereOf('SECURITY', 'Policy\\Secrets\\$MACHINE.ACC'), before: { type: REG.NONE, data: '(machine account secret, not shown)' }, after: null,
      reason: 'Delete the machine account secret (encrypted with the LSA key; never re-encrypted offline).',
    });
  }
  for (const v of security.key('Cache')?.values() ?? []) {
    if (!/^NL\$\d+$/i.test(v.name) || v.raw.length < 2 || v.raw.readUInt16LE(0) === 0) continue;
    plan.changes.push({
      ...reg('SECURITY', 'Cache', v.name, 'set-value', undefined, v.type, Buffer.alloc(v.raw.length), `Wipe the cached domain logon ${v.name} (unverified format: zeroed like an unused slot).`),
      before: { type: v.type, data: '(cached credentials, not shown)' },
    });
  }
  for (const cs of controlSetsToEdit(system)) {
    const tcpip = system.key(`${cs}\\Services\\Tcpip\\Parameters`);
    for (const name of ['Domain', 'NV Domain']) {
      const v = tcpip?.value(name);
      if (v && str(tcpip, name)) plan.changes.push(reg('SYSTEM', `${cs}\\Services\\Tcpip\\Parameters`, name, 'set-value', v, v.type, '', 'Clear the primary DNS suffix of the domain.'));
    }
    const netlogon = system.key(`${cs}\\Services\\Netlogon`);
    if (num(netlogon, 'Start') === 2) plan.changes.push(reg('SYSTEM', `${cs}\\Services\\Netlogon`, 'Start', 'set-value', netlogon?.value('Start'), REG.DWORD, 3, 'Netlogon back to demand start, as on a workgroup machine.'));
  }
  const software = await img.hive('SOFTWARE').catch(() => undefined);
  const winlogon = software?.key('Microsoft\\Windows NT\\CurrentVersion\\Winlogon');
  for (const name of ['DefaultDomainName', 'CachePrimaryDomain']) {
    const v = winlogon?.value(name);
    if (v && str(winlogon, name)) plan.changes.push(reg('SOFTWARE', 'Microsoft\\Windows NT\\CurrentVersion\\Winlogon', name, 'set-value', v, v.type, '', 'Clear the default logon domain.'));
  }
  plan.warnings.push(
    'Offline unjoin is not supported by Microsoft: nothing reached a domain controller, so the computer account stays in Active Directory. Group Policy settings applied earlier stay in the image.',
  );
  plan.notes.push(`Unjoined offline from ${m.dnsDomain ?? m.name} (domain SID ${m.domainSid ?? '?'}); workgroup ${workgroup}. ${ACCOUNT_NOTE}`);
  return plan;
}

function reg(
  hive: HiveName,
  key: string,
  value: string,
  action: 'set-value',
  before: { type: number; data: import('../../disk/hive/types.js').RegData } | undefined,
  type: number,
  data: import('../../disk/hive/types.js').RegData,
  reason: string,
): RegistryChange {
  return {
    kind: 'registry', module: MODULE, action, hive, key, value, where: whereOf(hive, key, value),
    before: showValue(before), after: showValue({ type, data }), type, data, reason,
  };
}

/** PowerShell for the first-boot runner: exit 250 = done without reboot (not joined), 0 = done, reboot (windows.md §2.3). */
export function unjoinScript(workgroup: string): string {
  // Single-quoted PowerShell literals: `$` and backticks in a workgroup name stay literal text.
  const wg = `'${workgroup.replace(/'/g, "''")}'`;
  return [
    '$ErrorActionPreference = "Stop"',
    '$cs = Get-CimInstance -ClassName Win32_ComputerSystem',
    'if (-not $cs.PartOfDomain) { Write-Output "Not joined to a domain: nothing to do."; exit 250 }',
    `Write-Output ("Leaving domain " + $cs.Domain + " for workgroup " + ${wg})`,
    `Remove-Computer -WorkgroupName ${wg} -Force`,
    'exit 0',
    '',
  ].join('\r\n');
}

