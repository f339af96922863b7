/**
 * `WindowsImage`: a target disk (raw image, fixed VHD, other formats through a raw view, or a
 * block device) with its Windows volume mounted. Finds the Windows partition (NTFS holding
 * Windows/System32/config/SYSTEM), the EFI system partition and the boot mode; opens hives by
 * name; reads and writes files on the volume. `close()` always unmounts and detaches (also run
 * by the cleanup registry on SIGTERM); use `withWindowsImage` to get that in a `finally`.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CeError } from '../../core/errors.js';
import { runTool } from '../../core/tools.js';
import { fsyncDir } from '../../core/atomic.js';
import { readPartitionTable } from '../partitions/read-table.js';
import type { Partition, PartitionTable } from '../partitions/types.js';
import { exposeRaw, type RawView } from '../mount/expose.js';
import { attachLoop, type LoopDevice } from '../mount/loop.js';
import { mountNtfs, type NtfsMount, type NtfsState } from '../mount/ntfs.js';
import { openHive, type HiveHandle } from './hive-access.js';
import type { HiveName } from './plan.js';

export type BootMode = 'bios' | 'uefi' | 'unknown';

export interface OpenWindowsOptions {
  /** Inspection: mount read-only, open hives read-only. */
  readOnly?: boolean;
  /** With readOnly: accept a hibernated/unclean volume and dirty hives (reported, nothing written). */
  allowUnsafeReadOnly?: boolean;
  workDir?: string;
  signal?: AbortSignal;
}

export interface HiveFileState {
  path: string;
  dirty: boolean;
  logs: string[];
}

const CONFIG = 'Windows\\System32\\config';

export class WindowsImage {
  private hives = new Map<HiveName, HiveHandle>();
  private closed = false;

  private constructor(
    readonly target: string,
    readonly raw: RawView,
    readonly table: PartitionTable,
    readonly windows: Partition,
    readonly esp: Partition | undefined,
    readonly bootMode: BootMode,
    private readonly loop: LoopDevice,
    readonly mount: NtfsMount,
    readonly readOnly: boolean,
    private readonly opts: OpenWindowsOptions,
  ) {}

  get root(): string {
    return this.mount.mountpoint;
  }
  get volumeState(): NtfsState {
    return this.mount.state;
  }

  static async open(target: string, opts: OpenWindowsOptions = {}): Promise<WindowsImage> {
    const readOnly = Boolean(opts.readOnly);
    const raw = await exposeRaw(target, { readOnly, workDir: opts.workDir, signal: opts.signal });
    let loop: LoopDevice | undefined;
    let mount: NtfsMount | undefined;
    try {
      const fh = await open(raw.path, 'r');
      let table: PartitionTable;
      const ntfs: Partition[] = [];
      const bitlocker: Partition[] = [];
      try {
        const reader = {
          name: target,
          size: raw.size,
          async readAt(offset: number, length: number) {
            const b = Buffer.alloc(length);
            const { bytesRead } = await fh.read(b, 0, length, offset);
            if (bytesRead < length) {
              throw new CeError('DISK_TRUNCATED', `${target} is truncated: needed ${length} bytes at ${offset}.`, { hint: 'The image was cut short; copy it again.' });
            }
            return b;
          },
        };
        table = await readPartitionTable(reader);
        const candidates: Partition[] =
          table.kind === 'none'
            ? [{ index: 0, offset: 0, size: raw.size, type: 'none', kind: 'basic-data' }]
            : table.partitions.filter((p) => p.kind === 'basic-data' || p.kind === 'recovery' || p.kind === 'unknown');
        for (const p of candidates) {
          if (p.size < 1024 * 1024) continue;
          const bs = await reader.readAt(p.offset, 512);
          const oem = bs.subarray(3, 11).toString('latin1');
          if (oem === 'NTFS    ') ntfs.push(p);
          else if (oem === '-FVE-FS-') bitlocker.push(p);
        }
      } finally {
        await fh.close();
      }
      if (!ntfs.length && bitlocker.length) {
        throw new CeError('WINDOWS_BITLOCKER', `The Windows volume on ${target} (partition ${bitlocker[0].index}) is encrypted with BitLocker.`, {
          hint: 'Decrypt the volume on the source machine (manage-bde -off C:, or suspend is not enough) and export again.',
          details: { partition: bitlocker[0].index },
        });
      }
      if (!ntfs.length) {
        throw new CeError('WINDOWS_NOT_FOUND', `No NTFS partition on ${target} (${table.kind} table, ${table.partitions.length} partitions).`, {
          hint: 'This is not a Windows system disk, or the partition table is damaged.',
          details: { partitions: table.partitions },
        });
      }
      // With one NTFS partition, mount it straight away; with several, look for the Windows one read-only first.
      let windows = ntfs[0];
      if (ntfs.length > 1) {
        let found: Partition | undefined;
        for (const p of ntfs) {
          const l = await attachLoop(raw.path, { offset: p.offset, size: p.size, readOnly: true });
          try {
            const m = await mountNtfs(l.device, { readOnly: true, allowUnsafeReadOnly: true, tmpDir: opts.workDir });
            try {
              if (await resolveCi(m.mountpoint, `${CONFIG}\\SYSTEM`)) found = p;
            } finally {
              await m.release();
            }
          } catch {
            /* not mountable: not the Windows volume */
          } finally {
            await l.release();
          }
          if (found) break;
        }
        if (!found) throw notFound(target);
        windows = found;
      }
      loop = await attachLoop(raw.path, { offset: windows.offset, size: windows.size, readOnly });
      mount = await mountNtfs(loop.device, { readOnly, allowUnsafeReadOnly: opts.allowUnsafeReadOnly, tmpDir: opts.workDir });
      if (!(await resolveCi(mount.mountpoint, `${CONFIG}\\SYSTEM`))) throw notFound(target);
      const esp = table.partitions.find((p) => p.kind === 'efi-system');
      const bootMode: BootMode = table.kind === 'gpt' ? (esp ? 'uefi' : 'unknown') : table.kind === 'mbr' ? 'bios' : 'unknown';
      return new WindowsImage(target, raw, table, windows, esp, bootMode, loop, mount, readOnly, opts);
    } catch (e) {
      await mount?.release().catch(() => undefined);
      await loop?.release().catch(() => undefined);
      await raw.release().catch(() => undefined);
      throw e;
    }
  }

  /** The host path of a Windows path (`C:\Windows\…`, `\Windows\…` or `Windows/…`), matched case-insensitively; undefined when absent. */
  async resolve(winPath: string): Promise<string | undefined> {
    return resolveCi(this.root, winPath);
  }

  async exists(winPath: string): Promise<boolean> {
    return (await this.resolve(winPath)) !== undefined;
  }

  async readFile(winPath: string): Promise<Buffer> {
    const p = await this.resolve(winPath);
    if (!p) throw new CeError('WINDOWS_FILE_NOT_FOUND', `${winPath} does not exist on the Windows volume.`, { status: 404 });
    return readFile(p);
  }

  /** Write a file atomically (`.partial` + rename), creating missing directories (existing ones keep their case). */
  async writeFile(winPath: string, data: Buffer | string): Promise<string> {
    this.assertWritable();
    const parts = splitWin(winPath);
    const name = parts.pop()!;
    let dir = this.root;
    for (const part of parts) {
      const hit = await findCi(dir, part);
      dir = join(dir, hit ?? part);
      if (!hit) await mkdir(dir);
    }
    const existing = await findCi(dir, name);
    const dst = join(dir, existing ?? name);
    const tmp = `${dst}.partial`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dst);
    fsyncDir(dir);
    return dst;
  }

  async removeFile(winPath: string): Promise<boolean> {
    this.assertWritable();
    const p = await this.resolve(winPath);
    if (!p) return false;
    await rm(p, { force: true });
    return true;
  }

  /** Host path of a hive file, or undefined. */
  async hivePath(name: HiveName): Promise<string | undefined> {
    return name === 'DEFAULT' ? this.resolve(`${CONFIG}\\DEFAULT`) : this.resolve(`${CONFIG}\\${name}`);
  }

  async hiveState(name: HiveName): Promise<HiveFileState | undefined> {
    const p = await this.hivePath(name);
    if (!p) return undefined;
    const fh = await open(p, 'r');
    const b = Buffer.alloc(12);
    try {
      await fh.read(b, 0, 12, 0);
    } finally {
      await fh.close();
    }
    const logs: string[] = [];
    for (const ext of ['LOG1', 'LOG2', 'LOG']) {
      const l = await this.resolve(`${CONFIG}\\${name}.${ext}`);
      if (l && (await stat(l)).size > 0) logs.push(l);
    }
    return { path: p, dirty: b.readUInt32LE(4) !== b.readUInt32LE(8), logs };
  }

  /** Open (once) a hive by name. Read-only images open hives read-only and accept dirty hives when allowed. */
  async hive(name: HiveName): Promise<HiveHandle> {
    const cached = this.hives.get(name);
    if (cached) return cached;
    const p = await this.hivePath(name);
    if (!p) throw new CeError('WINDOWS_HIVE_MISSING', `The ${name} hive is missing from ${CONFIG}.`, { hint: 'The Windows installation is incomplete or damaged.', status: 422 });
    const h = await openHive(p, this.readOnly ? { readOnly: true, acceptDirty: Boolean(this.opts.allowUnsafeReadOnly) } : {});
    this.hives.set(name, h);
    return h;
  }

  /** Hives opened so far (apply saves those with changes). */
  openedHives(): Array<[HiveName, HiveHandle]> {
    return [...this.hives.entries()];
  }

  /** Drop a cached hive (after a failed save, to re-read the file). */
  forgetHive(name: HiveName): void {
    this.hives.delete(name);
  }

  /** Files on the EFI system partition (FAT: read with mtools, the kernel has no vfat). */
  async espHas(path: string): Promise<boolean> {
    if (!this.esp) return false;
    const r = await runTool('mdir', ['-b', '-i', `${this.raw.path}@@${this.esp.offset}`, `::${path.replace(/\\/g, '/')}`], { allowFailure: true });
    return r.exitCode === 0;
  }

  private assertWritable(): void {
    if (this.readOnly) throw new CeError('WINDOWS_READ_ONLY', 'The image was opened read-only (inspection).', { status: 500 });
  }

  /** Unmount, detach, write a temporary raw view back (read-write sessions), remove it. Safe to call twice. */
  async close(opts: { commit?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const errors: unknown[] = [];
    await this.mount.release().catch((e) => errors.push(e));
    await this.loop.release().catch((e) => errors.push(e));
    if (!errors.length && opts.commit && !this.readOnly) await this.raw.commit().catch((e) => errors.push(e));
    await this.raw.release().catch((e) => errors.push(e));
    if (errors.length) throw errors[0];
  }
}

/** Open, run fn, always close (commit a raw view only when fn succeeded). */
export async function withWindowsImage<T>(target: string, opts: OpenWindowsOptions, fn: (img: WindowsImage) => Promise<T>): Promise<T> {
  const img = await WindowsImage.open(target, opts);
  let ok = false;
  try {
    const r = await fn(img);
    ok = true;
    return r;
  } finally {
    await img.close({ commit: ok });
  }
}

function notFound(target: string): CeError {
  return new CeError('WINDOWS_NOT_FOUND', `No Windows installation (Windows\\System32\\config\\SYSTEM) on ${target}.`, {
    hint: 'This disk holds no Windows system volume (a data disk?), or the installation is damaged.',
  });
}

function splitWin(p: string): string[] {
  return p.replace(/^[a-zA-Z]:/, '').split(/[\\/]+/).filter(Boolean);
}

async function findCi(dir: string, name: string): Promise<string | undefined> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return undefined;
  }
  if (entries.includes(name)) return name;
  const lower = name.toLowerCase();
  return entries.find((e) => e.toLowerCase() === lower);
}

/** NTFS via ntfs-3g is case-sensitive for lookups; Windows paths are not. */
export async function resolveCi(root: string, winPath: string): Promise<string | undefined> {
  let cur = root;
  for (const part of splitWin(winPath)) {
    const hit = await findCi(cur, part);
    if (!hit) return undefined;
    cur = join(cur, hit);
  }
  return cur;
}

