/**
 * Offline inspection of a mounted Windows image (read-only): product, version/build, edition,
 * architecture, hostname, control sets, domain membership (SYSTEM + SECURITY), pagefile,
 * drive letters, Citrix components, boot mode, hibernation and Fast Startup.
 */
import { stat } from 'node:fs/promises';
import { controlSetsToEdit, currentControlSet, type HiveHandle } from './hive-access.js';
import type { WindowsImage } from './image.js';
import { decodeLsaString, decodeMountedDevice, decodeSid, multi, num, policyRaw, str, type MountedDeviceTarget } from './registry-facts.js';
import type { HiveName } from './plan.js';

export interface Membership {
  kind: 'domain' | 'workgroup' | 'unknown';
  /** NetBIOS domain or workgroup name (SECURITY Policy\PolPrDmN). */
  name?: string;
  dnsDomain?: string;
  forest?: string;
  domainSid?: string;
  machineSecret: boolean;
  cachedLogons: number;
  /** SYSTEM Tcpip\Parameters Domain (the primary DNS suffix). */
  tcpipDomain?: string;
  source: 'SECURITY' | 'SYSTEM';
}

export interface DriveLetter {
  letter: string;
  target: MountedDeviceTarget;
  /** What it points at relative to this disk. */
  points: 'windows-volume' | 'this-disk' | 'other-disk' | 'cdrom' | 'removable' | 'unknown';
}

export interface CitrixComponents {
  vda?: { version?: string; displayName?: string; listOfDDCs?: string };
  misa?: { version?: string };
  mcsio?: { service: boolean; start?: number; driverFile: boolean };
  pvs?: { services: string[]; writeCacheType?: number };
}

export interface WindowsInspection {
  target: string;
  format: string;
  partitionTable: { kind: string; partitions: Array<{ index: number; offset: number; size: number; kind: string; type: string }>; warnings: string[] };
  bootMode: string;
  esp?: { offset: number; size: number; bootmgfw: boolean; fallbackBootx64: boolean };
  windowsPartition: { index: number; offset: number; size: number };
  product: {
    name?: string;
    edition?: string;
    installationType?: string;
    version?: string;
    displayVersion?: string;
    build?: number;
    ubr?: number;
    architecture?: string;
  };
  hostname?: string;
  controlSets: { current: string; default?: number; lastKnownGood?: number; failed?: number; toEdit: string[] };
  membership: Membership;
  pagefile: { controlSet: string; pagingFiles: string[]; existingPageFiles?: string[]; tempPageFile?: number };
  driveLetters: DriveLetter[];
  citrix: CitrixComponents;
  hibernation: { volumeHibernated: boolean; volumeUnclean: boolean; volumeDirty: boolean; hiberfil?: { size: number; signature: string }; hibernateEnabled?: number; fastStartup?: boolean };
  hives: Record<string, { dirty: boolean; logs: number }>;
  hiveLibrary: string;
  warnings: string[];
}

const PVS_SERVICES = ['bnistack', 'bndevice', 'cfsdep2', 'cvhdmp', 'cnicteam', 'CVhdBusP6'];

export async function inspectWindows(img: WindowsImage, opts: { hiveLibrary: string }): Promise<WindowsInspection> {
  const warnings: string[] = [...img.table.warnings];
  const hives: WindowsInspection['hives'] = {};
  for (const n of ['SYSTEM', 'SOFTWARE', 'SECURITY', 'SAM'] as HiveName[]) {
    const s = await img.hiveState(n);
    if (!s) continue;
    hives[n] = { dirty: s.dirty, logs: s.logs.length };
    if (s.dirty) warnings.push(`The ${n} hive is dirty (${s.logs.length ? 'its logs hold newer data' : 'no logs found'}).`);
  }
  const system = await img.hive('SYSTEM');
  const software = await optionalHive(img, 'SOFTWARE', warnings);
  const security = await optionalHive(img, 'SECURITY', warnings);
  const ccs = currentControlSet(system);
  const sel = system.key('Select');

  const cv = software?.key('Microsoft\\Windows NT\\CurrentVersion');
  const build = num(cv, 'CurrentBuildNumber') ?? num(cv, 'CurrentBuild');
  const major = num(cv, 'CurrentMajorVersionNumber');
  let name = str(cv, 'ProductName');
  // Windows 11 keeps "Windows 10" in ProductName; the build number tells (22000+ on the client).
  if (name && build && build >= 22000 && /^Windows 10/.test(name) && str(cv, 'InstallationType') !== 'Server') name = name.replace('Windows 10', 'Windows 11');
  const env = system.key(`${ccs}\\Control\\Session Manager\\Environment`);
  const arch = str(env, 'PROCESSOR_ARCHITECTURE');

  const esp = img.esp
    ? { offset: img.esp.offset, size: img.esp.size, bootmgfw: await img.espHas('/EFI/Microsoft/Boot/bootmgfw.efi'), fallbackBootx64: await img.espHas('/EFI/Boot/bootx64.efi') }
    : undefined;

  const mm = system.key(`${ccs}\\Control\\Session Manager\\Memory Management`);
  const power = system.key(`${ccs}\\Control\\Session Manager\\Power`);
  const hiberPath = await img.resolve('hiberfil.sys');
  let hiberfil: { size: number; signature: string } | undefined;
  if (hiberPath) {
    const st = await stat(hiberPath);
    const head = st.size >= 4 ? (await img.readFile('hiberfil.sys')).subarray(0, 4) : Buffer.alloc(0);
    hiberfil = { size: st.size, signature: /^[\x20-\x7e]{4}$/.test(head.toString('latin1')) ? head.toString('latin1') : head.toString('hex') };
  }

  return {
    target: img.target,
    format: img.raw.format,
    partitionTable: {
      kind: img.table.kind,
      partitions: img.table.partitions.map((p) => ({ index: p.index, offset: p.offset, size: p.size, kind: p.kind, type: p.type })),
      warnings: img.table.warnings,
    },
    bootMode: img.bootMode,
    esp,
    windowsPartition: { index: img.windows.index, offset: img.windows.offset, size: img.windows.size },
    product: {
      name,
      edition: str(cv, 'EditionID'),
      installationType: str(cv, 'InstallationType'),
      version: major !== undefined ? `${major}.${num(cv, 'CurrentMinorVersionNumber') ?? 0}` : str(cv, 'CurrentVersion'),
      displayVersion: str(cv, 'DisplayVersion') ?? str(cv, 'ReleaseId'),
      build,
      ubr: num(cv, 'UBR'),
      architecture: arch === 'AMD64' ? 'x64' : arch === 'x86' ? 'x86' : arch === 'ARM64' ? 'arm64' : arch,
    },
    hostname:
      str(system.key(`${ccs}\\Control\\ComputerName\\ComputerName`), 'ComputerName') ?? str(system.key(`${ccs}\\Services\\Tcpip\\Parameters`), 'Hostname'),
    controlSets: { current: ccs, default: num(sel, 'Default'), lastKnownGood: num(sel, 'LastKnownGood'), failed: num(sel, 'Failed'), toEdit: controlSetsToEdit(system) },
    membership: readMembership(system, security, ccs),
    pagefile: {
      controlSet: ccs,
      pagingFiles: multi(mm, 'PagingFiles') ?? [],
      existingPageFiles: multi(mm, 'ExistingPageFiles'),
      tempPageFile: num(mm, 'TempPageFile'),
    },
    driveLetters: readDriveLetters(system, img),
    citrix: await readCitrix(img, system, software, ccs),
    hibernation: {
      volumeHibernated: img.volumeState.hibernated,
      volumeUnclean: img.volumeState.unclean,
      volumeDirty: img.volumeState.dirty,
      hiberfil,
      hibernateEnabled: num(power, 'HibernateEnabled'),
      fastStartup: num(power, 'HiberbootEnabled') === undefined ? undefined : num(power, 'HiberbootEnabled') === 1,
    },
    hives,
    hiveLibrary: opts.hiveLibrary,
    warnings,
  };
}

async function optionalHive(img: WindowsImage, name: HiveName, warnings: string[]): Promise<HiveHandle | undefined> {
  try {
    return await img.hive(name);
  } catch (e) {
    warnings.push(`The ${name} hive could not be read: ${(e as Error).message}`);
    return undefined;
  }
}

export function readMembership(system: HiveHandle, security: HiveHandle | undefined, ccs: string): Membership {
  const tcpip = system.key(`${ccs}\\Services\\Tcpip\\Parameters`);
  const tcpipDomain = str(tcpip, 'Domain') || str(tcpip, 'NV Domain') || undefined;
  if (!security || !security.key('Policy')) {
    return { kind: tcpipDomain ? 'domain' : 'unknown', tcpipDomain, machineSecret: false, cachedLogons: 0, source: 'SYSTEM' };
  }
  const pol = (n: string) => policyRaw(security.key(`Policy\\${n}`));
  const name = decodeLsaString(pol('PolPrDmN'));
  const sid = decodeSid(pol('PolPrDmS'));
  const cache = security.key('Cache');
  const cachedLogons = (cache?.values() ?? []).filter((v) => /^NL\$\d+$/i.test(v.name) && v.raw.length >= 2 && v.raw.readUInt16LE(0) > 0).length;
  return {
    kind: sid ? 'domain' : 'workgroup',
    name: name || undefined,
    dnsDomain: decodeLsaString(pol('PolDnDDN')) || undefined,
    forest: decodeLsaString(pol('PolDnTrN')) || undefined,
    domainSid: sid || undefined,
    machineSecret: Boolean(security.key('Policy\\Secrets\\$MACHINE.ACC')),
    cachedLogons,
    tcpipDomain,
    source: 'SECURITY',
  };
}

export function readDriveLetters(system: HiveHandle, img: WindowsImage): DriveLetter[] {
  const md = system.key('MountedDevices');
  const out: DriveLetter[] = [];
  for (const v of md?.values() ?? []) {
    const m = /^\\DosDevices\\([A-Z]):$/i.exec(v.name);
    if (!m) continue;
    const target = decodeMountedDevice(v.raw);
    out.push({ letter: `${m[1].toUpperCase()}:`, target, points: classify(target, img) });
  }
  return out.sort((a, b) => a.letter.localeCompare(b.letter));
}

export function classify(t: MountedDeviceTarget, img: WindowsImage): DriveLetter['points'] {
  if (t.kind === 'device') return t.deviceClass === 'cdrom' ? 'cdrom' : t.deviceClass === 'usb' || t.deviceClass === 'floppy' ? 'removable' : 'unknown';
  if (t.kind === 'mbr') {
    if (img.table.kind !== 'mbr' || t.diskSignature !== img.table.diskSignature) return 'other-disk';
    return t.offset === img.windows.offset ? 'windows-volume' : 'this-disk';
  }
  if (t.kind === 'gpt') {
    if (img.table.kind !== 'gpt') return 'other-disk';
    const p = img.table.partitions.find((x) => x.guid === t.partitionGuid);
    return !p ? 'other-disk' : p === img.windows || p.offset === img.windows.offset ? 'windows-volume' : 'this-disk';
  }
  return 'unknown';
}

async function readCitrix(img: WindowsImage, system: HiveHandle, software: HiveHandle | undefined, ccs: string): Promise<CitrixComponents> {
  const out: CitrixComponents = {};
  const uninstall = software?.key('Microsoft\\Windows\\CurrentVersion\\Uninstall');
  for (const k of uninstall?.subkeys() ?? []) {
    const dn = str(k, 'DisplayName') ?? '';
    if (/Citrix Virtual Delivery Agent|Citrix VDA|XenDesktop Virtual Desktop Agent|Virtual Desktop Agent/i.test(dn) && !out.vda) {
      out.vda = { displayName: dn, version: str(k, 'DisplayVersion') };
    }
    if (/^Machine Identity Service Agent/i.test(dn)) out.misa = { version: str(k, 'DisplayVersion') };
  }
  const vdaKey = software?.key('Citrix\\VirtualDesktopAgent');
  if (vdaKey) {
    out.vda ??= {};
    out.vda.listOfDDCs = str(vdaKey, 'ListOfDDCs') ?? str(software?.key('Policies\\Citrix\\VirtualDesktopAgent'), 'ListOfDDCs');
  }
  const services = system.key(`${ccs}\\Services`);
  const cvhd = services?.subkey('CVhdFilter');
  const driverFile = await img.exists('Windows\\System32\\drivers\\CVhdFilter.sys');
  if (cvhd || driverFile) out.mcsio = { service: Boolean(cvhd), start: num(cvhd, 'Start'), driverFile };
  const pvs = PVS_SERVICES.filter((s) => services?.subkey(s));
  if (pvs.length) out.pvs = { services: pvs, writeCacheType: num(services?.subkey('bnistack')?.subkey('PVSAgent'), 'WriteCacheType') };
  return out;
}

export function formatInspection(r: WindowsInspection): string {
  const p = r.product;
  const m = r.membership;
  const lines = [
    `target:        ${r.target} (${r.format}, ${r.partitionTable.kind}, boot ${r.bootMode})`,
    `windows:       ${p.name ?? '?'} ${p.edition ? `(${p.edition})` : ''} version ${p.version ?? '?'} ${p.displayVersion ?? ''} build ${p.build ?? '?'}${p.ubr !== undefined ? `.${p.ubr}` : ''} ${p.architecture ?? ''}`.replace(/\s+/g, ' '),
    `hostname:      ${r.hostname ?? '?'}`,
    `control set:   ${r.controlSets.current} (edit: ${r.controlSets.toEdit.join(', ')})`,
    `membership:    ${m.kind}${m.name ? ` ${m.name}` : ''}${m.dnsDomain ? ` (${m.dnsDomain})` : ''}${m.machineSecret ? ', machine secret present' : ''}${m.cachedLogons ? `, ${m.cachedLogons} cached logons` : ''}`,
    `pagefile:      ${r.pagefile.pagingFiles.join('; ') || '(none)'}${r.pagefile.tempPageFile ? ' (TempPageFile set)' : ''}`,
    `drive letters: ${r.driveLetters.map((d) => `${d.letter}→${d.points}`).join(', ') || '(none)'}`,
    `citrix:        ${citrixLine(r.citrix)}`,
    `hibernation:   volume ${r.hibernation.volumeHibernated ? 'HIBERNATED' : 'not hibernated'}${r.hibernation.volumeUnclean || r.hibernation.volumeDirty ? ', volume DIRTY' : ''}, fast startup ${r.hibernation.fastStartup === undefined ? '?' : r.hibernation.fastStartup ? 'on' : 'off'}`,
  ];
  if (r.esp) lines.push(`esp:           bootmgfw.efi ${r.esp.bootmgfw ? 'present' : 'MISSING'}, fallback bootx64.efi ${r.esp.fallbackBootx64 ? 'present' : 'missing'}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

function citrixLine(c: CitrixComponents): string {
  const parts: string[] = [];
  if (c.vda) parts.push(`VDA ${c.vda.version ?? '?'}`);
  if (c.misa) parts.push(`MISA ${c.misa.version ?? ''}`.trim());
  if (c.mcsio) parts.push(`MCSIO (CVhdFilter${c.mcsio.start !== undefined ? ` start ${c.mcsio.start}` : ''})`);
  if (c.pvs) parts.push(`PVS target device (${c.pvs.services.join(', ')})`);
  return parts.join(', ') || 'none';
}

/** Open a target read-only, inspect it, always unmount. `allowUnsafe` inspects a hibernated/unclean volume or dirty hives. */
export async function inspectTarget(target: string, opts: { allowUnsafe?: boolean; workDir?: string; signal?: AbortSignal } = {}): Promise<WindowsInspection> {
  const { withWindowsImage } = await import('./image.js');
  const { hiveImplementation } = await import('./hive-access.js');
  const lib = await hiveImplementation();
  return withWindowsImage(target, { readOnly: true, allowUnsafeReadOnly: Boolean(opts.allowUnsafe), workDir: opts.workDir, signal: opts.signal }, (img) =>
    inspectWindows(img, { hiveLibrary: lib }),
  );
}
