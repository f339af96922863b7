/**
 * Test helpers for the format modules: a minimal raw Disk over a FileSource (the real raw module
 * lives in disk-core), an OpenOptions that resolves related files next to the image, random sparse
 * raw images, and qemu-img (the oracle) wrappers.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { execa } from 'execa';
import type { ByteSource, Disk, DiskFormatModule, OpenOptions, WriteResult } from '../../disk/types.js';
import { FileSink, FileSource } from '../../disk/io/file.js';
import { vhdxFormat } from '../../disk/vhdx/index.js';
import { vmdkFormat } from '../../disk/vmdk/index.js';
import { qcow2Format } from '../../disk/qcow2/index.js';

export const MiB = 1024 * 1024;
export const MODULES: DiskFormatModule[] = [vhdxFormat, vmdkFormat, qcow2Format];

/** A raw disk: every block "may hold data"; block size 1 MiB. */
export function rawDisk(src: ByteSource): Disk {
  const blockSize = MiB;
  return {
    format: 'raw', subformat: 'raw', virtualSize: src.size, blockSize, source: src,
    async *blocks() { for (let i = 0; i * blockSize < src.size; i++) yield i; },
    async read(offset, length, buf) {
      const out = buf ? buf.subarray(0, length) : Buffer.alloc(length);
      const n = await src.pread(out, offset);
      out.fill(0, n);
      return out;
    },
    describe: () => ({ format: 'raw', subformat: 'raw', virtualSize: src.size, fileSize: src.size, blockSize, problems: [] }),
    close: () => src.close(),
  };
}

export async function openRaw(path: string): Promise<Disk> {
  return rawDisk(await FileSource.open(path));
}

/** OpenOptions for tests: related names resolve next to `imagePath`; parents open with our modules or as raw. */
export function openOptions(imagePath: string, depth = 0): OpenOptions {
  return {
    depth,
    openRelated: (name) => FileSource.open(isAbsolute(name) ? name : join(dirname(imagePath), name)),
    openParent: async (src, d) => {
      if (d > 16) throw new Error('DISK_PARENT_LOOP');
      return openWith(src, openOptions(src.name, d));
    },
  };
}

export async function openWith(src: ByteSource, opts: OpenOptions): Promise<Disk> {
  const head = Buffer.alloc(Math.min(65536, src.size));
  await src.pread(head, 0);
  const tail = Buffer.alloc(Math.min(1024, src.size));
  await src.pread(tail, src.size - tail.length);
  for (const m of MODULES) if (m.probe(head, tail, src.size)) return m.open(src, opts);
  return rawDisk(src);
}

/** Open an image file with the module that probes it (raw otherwise). */
export async function openImage(path: string): Promise<Disk> {
  return openWith(await FileSource.open(path), openOptions(path));
}

/** Write a random sparse raw image: `runs` runs of random data (sizes up to maxRun) at random offsets. */
export async function makeSparseRaw(path: string, size: number, runs: number, maxRun = 3 * MiB + 777): Promise<void> {
  const fh = await open(path, 'w');
  await fh.truncate(size);
  for (let i = 0; i < runs && size > 0; i++) {
    const len = Math.min(size, 1 + Math.floor(Math.random() * maxRun));
    const off = Math.floor(Math.random() * (size - len + 1));
    await fh.write(randomBytes(len), 0, len, off);
  }
  // A run at the very end (tests the partial last block).
  if (runs > 0 && size >= 4096) await fh.write(randomBytes(4096), 0, 4096, size - 4096);
  await fh.close();
}

/** Convert with one of our writers into a file. */
export async function writeWith(mod: DiskFormatModule, target: string, src: Disk, out: string, opts: Parameters<DiskFormatModule['writers'][0]['write']>[2] = {}): Promise<WriteResult> {
  const w = mod.writers.find((x) => x.target === target);
  if (!w) throw new Error(`no writer ${target}`);
  const sink = await FileSink.open(out);
  try {
    return await w.write(src, sink, opts, { inFlight: 8 });
  } finally {
    await sink.close();
  }
}

/** Read the whole virtual disk through our reader into a raw file. */
export async function readToRaw(disk: Disk, out: string): Promise<void> {
  const fh = await open(out, 'w');
  const chunk = 4 * MiB;
  for (let off = 0; off < disk.virtualSize; off += chunk) {
    const len = Math.min(chunk, disk.virtualSize - off);
    const buf = await disk.read(off, len);
    await fh.write(buf, 0, len, off);
  }
  await fh.truncate(disk.virtualSize);
  await fh.close();
}

export async function qemuImg(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const r = await execa('qemu-img', args, { reject: false });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

export async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}
