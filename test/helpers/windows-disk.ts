/**
 * Build synthetic Windows disks for tests: a sparse raw file with an MBR (BIOS) or GPT (UEFI,
 * with a FAT EFI system partition made by mtools) table written by sfdisk, an NTFS volume made
 * by mkntfs on a loop device at the partition offset, and `Windows/System32/config/` holding
 * COPIES of the real hives in ../shared/fixtures/hives (never the fixtures themselves), plus a
 * small SOFTWARE hive built with hivexsh from `minimal`.
 *
 * The fixture SYSTEM_2 and SECURITY were copied from running machines: their base blocks are
 * "dirty" (seq1 = seq2 + 1) and their logs are not in the fixtures. `cleanHive` marks a copy clean
 * (seq2 = seq1, checksum) as a cleanly shut down Windows would have left it; `dirtySystem: true` keeps SYSTEM dirty.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile, chmod, truncate, open } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { SHARED } from './cli.js';
import { lsaString } from '../../network/domain/unjoin.js';
import { tempDir, type Teardownable } from './tmp.js';

export const HIVES = join(SHARED, 'fixtures', 'hives');
const MiB = 1024 * 1024;

/** The unique GUID of the Windows partition on GPT test disks; MountedDevices C: points at it (DMIO:ID:). */
export const GPT_WINDOWS_GUID = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const CDROM_PATH = '\\??\\SCSI#CdRom&Ven_VBOX&Prod_CD-ROM#4&8f5d389&0&010000#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}';

export interface WindowsDiskOptions {
  scheme: 'mbr' | 'gpt';
  /** Disk size in MiB (default 96). */
  sizeMiB?: number;
  /**
   * A dirty SYSTEM: 'no-logs' (as in the fixture: nothing to replay) or 'with-logs' (a .LOG1 built
   * with the hive branch's log writer whose replay sets ComputerName to LOGGEDNAME).
   */
  dirtySystem?: 'no-logs' | 'with-logs';
  /** Make the machine domain-joined (SECURITY Policy, Tcpip Domain, Netlogon, Winlogon). */
  joined?: boolean;
  /** Citrix components in SOFTWARE/SYSTEM. */
  citrix?: { vda?: string; misa?: boolean; mcsio?: boolean; pvs?: boolean };
  /** Put a hiberfil.sys with the `hibr` signature at the volume root. */
  hibernated?: boolean;
  /** Set the NTFS $Volume dirty flag (MFT record 3 and its mirror). */
  dirtyVolume?: boolean;
  /** Extra setup on the mounted volume before it is unmounted. */
  onVolume?: (root: string) => Promise<void>;
}

export interface WindowsDisk {
  path: string;
  dir: string;
  ntfsOffset: number;
  ntfsSize: number;
  espOffset?: number;
}

async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await execa(cmd, args, { input, reject: false });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  return String(r.stdout);
}

/** Set seq2 = seq1 and recompute the base block checksum (XOR of dwords 0..0x1FB; 0 → 1, ~0 → ~1). */
export async function cleanHive(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(4096);
    await fh.read(b, 0, 4096, 0);
    b.writeUInt32LE(b.readUInt32LE(4), 8);
    let x = 0;
    for (let i = 0; i < 0x1fc; i += 4) x = (x ^ b.readUInt32LE(i)) >>> 0;
    if (x === 0) x = 1;
    if (x === 0xffffffff) x = 0xfffffffe;
    b.writeUInt32LE(x, 0x1fc);
    await fh.write(b, 0, 512, 0);
  } finally {
    await fh.close();
  }
}

/** Run a hivexsh script (writes enabled) against a hive and commit it in place. */
export async function hivexshEdit(hive: string, lines: string[]): Promise<void> {
  await sh('hivexsh', ['-w', hive], [...lines, 'commit', 'quit', ''].join('\n'));
}

export function unicodeStringBlob(s: string): string {
  // UNICODE_STRING-style LSA attribute (windows.md §3.4), encoded as the unjoin code encodes it.
  return hexSpec(0, lsaString(s));
}

export function hexSpec(type: number, b: Buffer): string {
  return `hex:${type}:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(',')}`;
}

const utf16z = (s: string) => Buffer.from(s + '\0', 'utf16le');

/** A SOFTWARE hive from `minimal`: product name/version, Winlogon, and Citrix uninstall entries. */
export async function buildSoftwareHive(path: string, opts: Pick<WindowsDiskOptions, 'joined' | 'citrix'>): Promise<void> {
  await copyFile(join(HIVES, 'minimal'), path);
  await chmod(path, 0o644);
  const L: string[] = [];
  const setval = (vals: Array<[string, string]>) => {
    L.push(`setval ${vals.length}`);
    for (const [n, v] of vals) L.push(n, v);
  };
  // hivexsh `add` fails on an existing key: create each prefix once.
  const made = new Set<string>();
  const ensure = (p: string) => {
    let cur = '';
    for (const part of p.split('\\')) {
      const next = cur ? `${cur}\\${part}` : part;
      if (!made.has(next.toLowerCase())) {
        L.push(cur ? `cd \\${cur}` : 'cd \\ ', `add ${part}`);
        made.add(next.toLowerCase());
      }
      cur = next;
    }
    L.push(`cd \\${cur}`);
  };
  ensure('Microsoft\\Windows NT\\CurrentVersion');
  setval([
    ['ProductName', 'string:Windows 10 Enterprise'],
    ['EditionID', 'string:Enterprise'],
    ['InstallationType', 'string:Client'],
    ['CurrentBuild', 'string:19045'],
    ['CurrentBuildNumber', 'string:19045'],
    ['DisplayVersion', 'string:22H2'],
    ['CurrentVersion', 'string:6.3'],
    ['CurrentMajorVersionNumber', 'dword:0x0000000a'],
    ['CurrentMinorVersionNumber', 'dword:0x00000000'],
    ['UBR', 'dword:0x00000d1f'],
  ]);
  ensure('Microsoft\\Windows NT\\CurrentVersion\\Winlogon');
  setval(
    opts.joined
      ? [
          ['DefaultDomainName', 'string:CONTOSO'],
          ['CachePrimaryDomain', 'string:CONTOSO'],
          ['Shell', 'string:explorer.exe'],
        ]
      : [['Shell', 'string:explorer.exe']],
  );
  ensure('Microsoft\\Windows\\CurrentVersion\\Uninstall\\{11111111-1111-1111-1111-111111111111}');
  setval([['DisplayName', 'string:Notepad++ (64-bit x64)'], ['DisplayVersion', 'string:8.5']]);
  const c = opts.citrix;
  if (c?.vda) {
    ensure('Microsoft\\Windows\\CurrentVersion\\Uninstall\\Citrix Virtual Desktop Agent');
    setval([
      ['DisplayName', 'string:Citrix Virtual Delivery Agent 2203 LTSR'],
      ['DisplayVersion', `string:${c.vda}`],
      ['Publisher', 'string:Citrix Systems, Inc.'],
    ]);
    ensure('Citrix\\VirtualDesktopAgent');
    setval([['ListOfDDCs', 'string:ddc1.contoso.local ddc2.contoso.local']]);
  }
  if (c?.misa) {
    ensure('Microsoft\\Windows\\CurrentVersion\\Uninstall\\{22222222-2222-2222-2222-222222222222}');
    setval([
      ['DisplayName', 'string:Machine Identity Service Agent'],
      ['DisplayVersion', 'string:7.33.0.17'],
      ['Publisher', 'string:Citrix Systems, Inc.'],
    ]);
  }
  await hivexshEdit(path, L);
}

/** SYSTEM edits for the options (joined: Tcpip Domain + Netlogon auto; Citrix drivers). */
async function editSystem(path: string, opts: WindowsDiskOptions): Promise<void> {
  const L: string[] = [];
  if (opts.scheme === 'gpt') {
    // A GPT Windows: C: is DMIO:ID:<partition GUID>; keep the VMware-style D: → CD-ROM leftover.
    const { guidToBytes } = await import('../../disk/partitions/guid.js');
    const c = Buffer.concat([Buffer.from('DMIO:ID:', 'latin1'), guidToBytes(GPT_WINDOWS_GUID)]);
    L.push('cd \\MountedDevices', 'setval 2', '\\DosDevices\\C:', hexSpec(3, c), '\\DosDevices\\D:', hexSpec(3, Buffer.from(CDROM_PATH, 'utf16le')));
  }
  if (opts.joined) {
    // Keep the other Tcpip\Parameters values: hivexsh setval replaces them all, so read them back first.
    L.push('cd \\ControlSet001\\Services\\Netlogon');
    L.push('setval 3', 'Start', 'dword:2', 'Type', 'dword:0x20', 'ImagePath', hexSpec(2, utf16z('%systemroot%\\system32\\lsass.exe')));
    L.push('cd \\ControlSet001\\Services\\Tcpip\\Parameters');
    L.push('setval 4', 'Domain', 'string:contoso.local', 'NV Domain', 'string:contoso.local', 'Hostname', 'string:sensei', 'NV Hostname', 'string:sensei');
  }
  const svc = (name: string, start: number) => {
    L.push('cd \\ControlSet001\\Services', `add ${name}`, `cd \\ControlSet001\\Services\\${name}`);
    L.push('setval 3', 'Start', `dword:${start}`, 'Type', 'dword:1', 'ImagePath', hexSpec(2, utf16z(`system32\\drivers\\${name}.sys`)));
  };
  if (opts.citrix?.mcsio) svc('CVhdFilter', 0);
  if (opts.citrix?.pvs) {
    svc('bnistack', 0);
    svc('CVhdMp', 0);
  }
  if (opts.citrix?.vda) svc('BrokerAgent', 2);
  if (L.length) await hivexshEdit(path, L);
}

/** Make the SECURITY copy look joined to CONTOSO (Policy attributes, machine secret, a cached logon). */
async function joinSecurity(path: string): Promise<void> {
  const sid = Buffer.from('010400000000000515000000aabbccdd1122334455667788', 'hex');
  const guid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const secret = Buffer.alloc(64, 0x5a);
  const nl = Buffer.alloc(200, 0);
  nl.writeUInt16LE(8, 0); // a non-empty cached entry (user name length)
  await hivexshEdit(path, [
    'cd \\Policy\\PolPrDmN', 'setval 1', '@', unicodeStringBlob('CONTOSO'),
    'cd \\Policy\\PolPrDmS', 'setval 1', '@', hexSpec(0, sid),
    'cd \\Policy\\PolDnDDN', 'setval 1', '@', unicodeStringBlob('contoso.local'),
    'cd \\Policy\\PolDnTrN', 'setval 1', '@', unicodeStringBlob('contoso.local'),
    'cd \\Policy\\PolDnDmG', 'setval 1', '@', hexSpec(0, guid),
    'cd \\Policy\\Secrets', 'add $MACHINE.ACC', 'cd \\Policy\\Secrets\\$MACHINE.ACC',
    'add CurrVal', 'add OldVal', 'add CupdTime', 'add OupdTime',
    'cd \\Policy\\Secrets\\$MACHINE.ACC\\CurrVal', 'setval 1', '@', hexSpec(0, secret),
    'cd \\Cache', 'setval 2', 'NL$1', hexSpec(3, nl), 'NL$Control', hexSpec(3, Buffer.from('04000100010000000', 'hex').subarray(0, 8)),
  ]);
}

async function losetup(args: string[]): Promise<string> {
  return (await sh('losetup', args)).trim();
}

/** Mount an NTFS loop device with ntfs-3g, run fn on the root, unmount and wait for the daemon. */
export async function withNtfs<T>(device: string, fn: (root: string) => Promise<T>, dir: string): Promise<T> {
  const mp = join(dir, `mnt-${Date.now()}`);
  await mkdir(mp, { recursive: true });
  await sh('ntfs-3g', [device, mp]);
  try {
    return await fn(mp);
  } finally {
    await sh('umount', [mp]);
    // ntfs-3g flushes after the kernel unmount; wait until no process holds the device.
    for (let i = 0; i < 100; i++) {
      const r = await execa('fuser', ['-s', device], { reject: false });
      if (r.exitCode !== 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

export async function buildWindowsDisk(t: Teardownable, opts: WindowsDiskOptions): Promise<WindowsDisk> {
  const dir = await tempDir(t, 'ce-windisk-');
  const path = join(dir, `disk-${opts.scheme}.raw`);
  // MBR: C: must start at 351 MiB (the fixture's MountedDevices); the file is sparse, so the size costs nothing.
  const size = (opts.sizeMiB ?? (opts.scheme === 'mbr' ? 448 : 96)) * MiB;
  await writeFile(path, '');
  await truncate(path, size);
  let ntfsStart: number;
  let espOffset: number | undefined;
  if (opts.scheme === 'mbr') {
    // The fixture's MountedDevices say: disk signature 0x273e4cfe, System Reserved at 1 MiB, C: at 0x15f00000.
    await sh('sfdisk', ['-q', path], 'label: dos\nlabel-id: 0x273e4cfe\nstart=2048, size=16384, type=7, bootable\nstart=718848, type=7\n');
    const reserved = await losetup(['-f', '--show', '-o', String(2048 * 512), '--sizelimit', String(16384 * 512), path]);
    try {
      await sh('mkntfs', ['-f', '-Q', '-q', '-L', 'System Reserved', '-p', '2048', '-H', '255', '-S', '63', reserved]);
    } finally {
      await losetup(['-d', reserved]);
    }
    ntfsStart = 718848;
  } else {
    await sh('sfdisk', ['-q', path], `label: gpt\nstart=2048, size=32768, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"\nstart=34816, size=32768, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE, name="Microsoft reserved partition"\nstart=67584, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, uuid=${GPT_WINDOWS_GUID}, name="Basic data partition"\n`);
    espOffset = 2048 * 512;
    const img = `${path}@@${espOffset}`;
    await sh('mformat', ['-i', img, '-T', '32768', '-h', '64', '-s', '32', '-v', 'SYSTEM', '::']);
    await sh('mmd', ['-i', img, '::/EFI', '::/EFI/Microsoft', '::/EFI/Microsoft/Boot', '::/EFI/Boot']);
    await sh('mcopy', ['-i', img, '-', '::/EFI/Microsoft/Boot/bootmgfw.efi'], 'MZ synthetic bootmgfw');
    ntfsStart = 67584;
  }
  const dump = await sh('sfdisk', ['-J', path]);
  const parts = (JSON.parse(dump) as { partitiontable: { partitions: Array<{ start: number; size: number }> } }).partitiontable.partitions;
  const ntfsPart = parts.find((p) => p.start === ntfsStart)!;
  const ntfsOffset = ntfsStart * 512;
  const ntfsSize = ntfsPart.size * 512;

  const dev = await losetup(['-f', '--show', '-o', String(ntfsOffset), '--sizelimit', String(ntfsSize), path]);
  try {
    await sh('mkntfs', ['-f', '-Q', '-q', '-L', 'Windows', '-p', String(ntfsStart), '-H', '255', '-S', '63', dev]);
    const stage = join(dir, 'stage');
    await mkdir(stage);
    const sys = join(stage, 'SYSTEM');
    await copyFile(join(HIVES, 'SYSTEM_2'), sys);
    await chmod(sys, 0o644);
    await cleanHive(sys);
    await editSystem(sys, opts);
    const sec = join(stage, 'SECURITY');
    await copyFile(join(HIVES, 'SECURITY'), sec);
    await chmod(sec, 0o644);
    await cleanHive(sec);
    if (opts.joined) await joinSecurity(sec);
    const sam = join(stage, 'SAM');
    await copyFile(join(HIVES, 'SAM'), sam);
    await chmod(sam, 0o644);
    await buildSoftwareHive(join(stage, 'SOFTWARE'), opts);
    let sysLog: Buffer | undefined;
    if (opts.dirtySystem) sysLog = await makeSystemDirty(sys, opts.dirtySystem === 'with-logs');

    await withNtfs(dev, async (root) => {
      const cfg = join(root, 'Windows', 'System32', 'config');
      await mkdir(cfg, { recursive: true });
      await mkdir(join(root, 'Windows', 'System32', 'drivers'), { recursive: true });
      for (const h of ['SYSTEM', 'SECURITY', 'SAM', 'SOFTWARE']) await copyFile(join(stage, h), join(cfg, h));
      if (opts.dirtySystem) {
        await writeFile(join(cfg, 'SYSTEM.LOG1'), sysLog ?? Buffer.alloc(0));
        await writeFile(join(cfg, 'SYSTEM.LOG2'), Buffer.alloc(0));
      }
      await writeFile(join(root, 'pagefile.sys'), Buffer.alloc(0));
      if (opts.citrix?.mcsio) await writeFile(join(root, 'Windows', 'System32', 'drivers', 'CVhdFilter.sys'), 'MZ');
      if (opts.hibernated) {
        // ntfs-3g reads the first 4 bytes of hiberfil.sys: `hibr` (hibernation) or `HIBR` (Fast Startup) ⇒ hibernated.
        const hib = Buffer.alloc(64 * 1024);
        hib.write('hibr', 0, 'latin1');
        await writeFile(join(root, 'hiberfil.sys'), hib);
      }
      if (opts.onVolume) await opts.onVolume(root);
    }, dir);
    if (opts.dirtyVolume) await setNtfsDirtyFlag(dev);
  } finally {
    await losetup(['-d', dev]);
  }
  return { path, dir, ntfsOffset, ntfsSize, espOffset };
}

/**
 * Leave SYSTEM dirty at its current state v0 (secondary seq N, primary N+1); with logs, a .LOG1
 * (HvLE, seq N) holds the pages of v1 = v0 + ComputerName LOGGEDNAME, so only a replay shows it.
 */
async function makeSystemDirty(path: string, withLogs: boolean): Promise<Buffer | undefined> {
  const { makeDirty, newFormatLog, hvleEntry } = await import('./hive-log.js');
  const { Hive } = await import('../../disk/hive/hive.js');
  const v0 = await readFile(path);
  const seq = v0.readUInt32LE(8);
  await writeFile(path, makeDirty(v0, seq, 1));
  if (!withLogs) return undefined;
  const h = Hive.fromBuffer(Buffer.from(v0));
  h.key('ControlSet001\\Control\\ComputerName\\ComputerName')!.setValue('ComputerName', 1, 'LOGGEDNAME');
  const v1 = h.toBuffer();
  return newFormatLog(v0, seq, [hvleEntry(v0, v1, seq)]);
}

/**
 * Set VOLUME_IS_DIRTY (0x0001) in $VOLUME_INFORMATION (attribute 0x70) of $Volume (MFT record 3)
 * and in its $MFTMirr copy, as Windows leaves it after a crash. The flags sit far from the
 * 512-byte sector ends, so the update-sequence fixups stay valid.
 */
export async function setNtfsDirtyFlag(device: string): Promise<void> {
  const fh = await open(device, 'r+');
  try {
    const boot = Buffer.alloc(512);
    await fh.read(boot, 0, 512, 0);
    const bps = boot.readUInt16LE(0x0b);
    const spc = boot.readUInt8(0x0d);
    const cluster = bps * spc;
    const mft = Number(boot.readBigUInt64LE(0x30)) * cluster;
    const mirr = Number(boot.readBigUInt64LE(0x38)) * cluster;
    const c = boot.readInt8(0x40);
    const recSize = c > 0 ? c * cluster : 2 ** -c;
    for (const base of [mft, mirr]) {
      const pos = base + 3 * recSize;
      const rec = Buffer.alloc(recSize);
      await fh.read(rec, 0, recSize, pos);
      let a = rec.readUInt16LE(0x14);
      while (a < recSize - 8) {
        const type = rec.readUInt32LE(a);
        if (type === 0xffffffff) break;
        const len = rec.readUInt32LE(a + 4);
        if (type === 0x70) {
          const voff = rec.readUInt16LE(a + 0x14);
          const flagsAt = a + voff + 0x0a;
          rec.writeUInt16LE(rec.readUInt16LE(flagsAt) | 1, flagsAt);
          await fh.write(rec, flagsAt, 2, pos + flagsAt);
          break;
        }
        if (!len) break;
        a += len;
      }
    }
  } finally {
    await fh.close();
  }
}

/** losetup -a output lines that reference a path under dir (leak check in teardown). */
export async function loopsUnder(dir: string): Promise<string[]> {
  const out = await sh('losetup', ['-a']);
  return out.split('\n').filter((l) => l.includes(dir));
}

/** Copy a file out of the disk's Windows volume without mounting (ntfscat on a read-only loop device). */
export async function extractFromDisk(d: WindowsDisk, winPath: string, out: string): Promise<void> {
  const dev = await losetup(['-f', '--show', '-r', '-o', String(d.ntfsOffset), '--sizelimit', String(d.ntfsSize), d.path]);
  try {
    await sh('sh', ['-c', 'exec ntfscat "$1" "$2" > "$3"', 'sh', dev, winPath.replace(/\\/g, '/'), out]);
  } finally {
    await losetup(['-d', dev]);
  }
}

/** Wait (up to 10 s: ntfs-3g daemons close their device after unmount) until no loop device references dir. */
export async function waitNoLoops(dir: string): Promise<string[]> {
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = await loopsUnder(dir);
    if (!left.length) return left;
    await new Promise((res) => setTimeout(res, 100));
  }
  return left;
}

export async function readHiveValue(hive: string, key: string, value: string): Promise<string | undefined> {
  const r = await execa('hivexget', [hive, key, value], { reject: false });
  // hivexget prints each MULTI_SZ string on its own line, then an empty one.
  return r.exitCode === 0 ? String(r.stdout).replace(/\n+$/, '') : undefined;
}


/** SHA-256 of a file (image byte-identity checks). */
export async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Write prepare options to a JSON file for `ce prepare --options`. */
export async function optionsFile(dir: string, o: Record<string, unknown>): Promise<string> {
  const p = join(dir, `prepare-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(p, JSON.stringify(o));
  return p;
}

/** Copy a hive out of the image (unmounted) and return its local path. */
export async function hiveOut(d: WindowsDisk, name: string): Promise<string> {
  const out = join(d.dir, `${name.replace(/\W/g, '_')}-${Date.now()}`);
  await extractFromDisk(d, `Windows/System32/config/${name}`, out);
  return out;
}
