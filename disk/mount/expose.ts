/**
 * Give the mount code a raw view (a path that `losetup` can attach) of any target:
 * - a block device or a raw image: itself;
 * - a fixed VHD: itself (raw data followed by a 512-byte footer; the loop ranges never reach the footer);
 * - any other format (VHDX, VMDK, qcow2, dynamic VHD): a temporary sparse raw copy (`toRawView`),
 *   and for a read-write session the edited raw view is converted back into the original format
 *   (`<image>.partial`, then renamed over the image).
 *
 * Why not qemu-nbd: the kernel here has no NBD (toolchain.md), and the CE VMs in the clouds attach the
 * target disk as a block device anyway, so the raw-copy path only serves image files on the CE's own
 * disk (tests, on-premises exports). The default provider is our disk engine (engine-view.ts, keeps
 * the subformat); `setRawViewProvider('qemu-img')` selects qemu-img, and where NBD exists a provider
 * can return `/dev/nbdN` instead of a file.
 */
import { open, rename, rm, stat, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CeError } from '../../core/errors.js';
import { runTool } from '../../core/tools.js';
import { fsyncDir } from '../../core/atomic.js';
import { register } from './cleanup.js';
import { engineRawViewProvider } from './engine-view.js';

export interface RawView {
  /** A raw file or block device holding the disk's virtual bytes from offset 0. */
  path: string;
  /** Virtual size of the disk. */
  size: number;
  /** The detected format of the target. */
  format: string;
  /** True when `path` is a temporary copy (edits must be written back with `commit`). */
  temporary: boolean;
  /** For a temporary view opened read-write: write the raw view back into the target's format. */
  commit(): Promise<void>;
  release(): Promise<void>;
}

export interface RawViewProvider {
  /** Make a raw file (or device) holding the virtual bytes of `target` (format as qemu-img names it) under workDir. */
  toRaw(target: string, format: string, workDir: string, signal?: AbortSignal): Promise<string>;
  /**
   * Replace `target` atomically with the edited raw view in the target's format; `subformatOption` is
   * qemu-img's `-o` value (e.g. `subformat=streamOptimized`) when it matters.
   */
  fromRaw(raw: string, target: string, format: string, subformatOption: string | undefined, signal?: AbortSignal): Promise<void>;
}

const qemuImgProvider: RawViewProvider = { toRaw: qemuImgRawView, fromRaw: qemuImgWriteBack };
// The disk engine by default (keeps the subformat); qemu-img stays as the fallback provider.
let provider: RawViewProvider = engineRawViewProvider;

/** Replace the way a non-raw image becomes a raw file and back (the disk engine after merge; qemu-nbd where NBD exists). */
export function setRawViewProvider(p: RawViewProvider | 'qemu-img' | undefined): void {
  provider = p === 'qemu-img' ? qemuImgProvider : (p ?? engineRawViewProvider);
}

async function qemuImgWriteBack(raw: string, target: string, format: string, subformatOption: string | undefined, signal?: AbortSignal): Promise<void> {
  const partial = `${target}.partial`;
  const o = subformatOption ? ['-o', subformatOption] : [];
  await runTool('qemu-img', ['convert', '-f', 'raw', '-O', format, ...o, raw, partial], {
    failCode: 'DISK_WRITE_BACK_FAILED',
    failHint: 'The edited image could not be written back; the original is unchanged.',
    cancelSignal: signal,
  }).catch(async (e) => {
    await rm(partial, { force: true });
    throw e;
  });
  const fh = await open(partial, 'r+');
  await fh.sync();
  await fh.close();
  await rename(partial, target);
  fsyncDir(join(target, '..'));
}

async function qemuImgRawView(target: string, format: string, workDir: string, signal?: AbortSignal): Promise<string> {
  const out = join(workDir, `${basename(target)}.raw`);
  // -S 64k keeps the copy sparse; -U allows a read while another process holds the image (inspection only).
  await runTool('qemu-img', ['convert', '-U', '-f', format, '-O', 'raw', '-S', '64k', target, out], {
    failCode: 'DISK_RAW_VIEW_FAILED',
    failHint: 'The image could not be read; check it with `ce check` or `qemu-img check`.',
    cancelSignal: signal,
  });
  return out;
}

interface QemuInfo {
  format: string;
  'virtual-size': number;
  'format-specific'?: { type?: string; data?: { 'create-type'?: string; subformat?: string } };
}

/** Detect the format: qemu-img probes a fixed VHD as raw, so look for the `conectix` footer ourselves. */
export async function detectFormat(target: string): Promise<{ format: string; virtualSize: number; fixedVhd: boolean; blockDevice: boolean }> {
  const st = await stat(target).catch(() => {
    throw new CeError('SOURCE_NOT_FOUND', `The image or device ${target} does not exist.`, { hint: 'Check the path.', status: 404 });
  });
  if (st.isBlockDevice()) {
    const fh = await open(target, 'r');
    try {
      const { readFile, realpath } = await import('node:fs/promises');
      const dev = (await realpath(target)).replace(/^\/dev\//, '');
      const sectors = Number((await readFile(`/sys/class/block/${dev}/size`, 'utf8')).trim());
      return { format: 'raw', virtualSize: sectors * 512, fixedVhd: false, blockDevice: true };
    } finally {
      await fh.close();
    }
  }
  if (!st.isFile()) throw new CeError('SOURCE_NOT_A_DISK', `${target} is neither a file nor a block device.`, { hint: 'Give an image file or a block device.' });
  if (st.size >= 512) {
    const fh = await open(target, 'r');
    try {
      const b = Buffer.alloc(512);
      await fh.read(b, 0, 512, st.size - 512);
      if (b.subarray(0, 8).toString('latin1') === 'conectix' && b.readUInt32BE(60) === 2) {
        return { format: 'vpc', virtualSize: st.size - 512, fixedVhd: true, blockDevice: false };
      }
    } finally {
      await fh.close();
    }
  }
  const r = await runTool('qemu-img', ['info', '--output=json', '-U', target], { failCode: 'IMAGE_UNREADABLE', failHint: 'The file is not a disk image qemu-img can read.' });
  const info = JSON.parse(r.stdout) as QemuInfo;
  return { format: info.format, virtualSize: info['virtual-size'], fixedVhd: false, blockDevice: false };
}

export async function exposeRaw(target: string, opts: { readOnly: boolean; workDir?: string; signal?: AbortSignal }): Promise<RawView> {
  const f = await detectFormat(target);
  if (f.format === 'raw' || f.fixedVhd) {
    return { path: target, size: f.virtualSize, format: f.fixedVhd ? 'vhd-fixed' : f.blockDevice ? 'block-device' : 'raw', temporary: false, commit: async () => undefined, release: async () => undefined };
  }
  const SUPPORTED = ['vpc', 'vhdx', 'vmdk', 'qcow2'];
  if (!SUPPORTED.includes(f.format)) {
    throw new CeError('DISK_FORMAT_UNSUPPORTED', `${target} is a ${f.format} image, which the CE does not open.`, { hint: `Convert it to one of raw, VHD, VHDX, VMDK or qcow2.` });
  }
  const dir = await mkdtemp(join(opts.workDir ?? tmpdir(), 'ce-rawview-'));
  const handle = register(`raw view ${dir}`, () => rm(dir, { recursive: true, force: true }));
  let raw: string;
  try {
    raw = await provider.toRaw(target, f.format, dir, opts.signal);
  } catch (e) {
    await handle.release();
    throw e;
  }
  const subformat = await qemuSubformat(target, f.format);
  return {
    path: raw,
    size: f.virtualSize,
    format: f.format,
    temporary: true,
    async commit() {
      if (opts.readOnly) return;
      // Write back in the same format (and subformat where qemu-img names it), atomically.
      await provider.fromRaw(raw, target, f.format, subformat, opts.signal);
    },
    release: () => handle.release(),
  };
}

async function qemuSubformat(target: string, format: string): Promise<string | undefined> {
  if (format !== 'vmdk' && format !== 'vpc' && format !== 'vhdx') return undefined;
  const r = await runTool('qemu-img', ['info', '--output=json', '-U', target], { allowFailure: true });
  try {
    const info = JSON.parse(r.stdout) as QemuInfo;
    const ct = info['format-specific']?.data?.['create-type'];
    if (format === 'vmdk' && ct) return `subformat=${ct}`;
  } catch {
    /* default subformat */
  }
  return undefined;
}
