/**
 * The shared read path of the format readers. A reader maps a virtual offset to an extent (file
 * bytes, zeros, "ask the parent", or a custom fill such as a compressed grain); `readExtents`
 * walks the range, merges extents contiguous in the file into one pread, and runs the preads of a
 * request concurrently.
 */
import type { ByteSource, Disk } from '../types.js';
import { truncated } from '../io/file.js';
import { extentMapOf, readSkippingHoles } from '../raw/extents.js';

export type Extent =
  | { kind: 'data'; length: number; fileOffset: number }
  | { kind: 'zero'; length: number }
  | { kind: 'parent'; length: number }
  | { kind: 'custom'; length: number; fill(dst: Buffer): Promise<void> };

/** Returns the extent at virtual `pos`, at most `max` bytes long (length > 0). */
export type Lookup = (pos: number, max: number) => Extent;

export async function readExtents(
  source: ByteSource,
  parent: Disk | undefined,
  virtualSize: number,
  offset: number,
  length: number,
  buf: Buffer | undefined,
  lookup: Lookup,
): Promise<Buffer> {
  const out = buf ? buf.subarray(0, length) : Buffer.allocUnsafe(length);
  const jobs: Promise<unknown>[] = [];
  let pos = offset;
  const end = offset + length;
  const inDisk = Math.min(end, virtualSize);
  let run: { dst: number; file: number; len: number } | undefined;
  const flush = () => {
    if (!run) return;
    const r = run;
    const view = out.subarray(r.dst, r.dst + r.len);
    // Holes of a sparse image file read as zeros without I/O once its extent map is loaded
    // (VhdxDisk.dataFilter loads it); past EOF the plain read reports the truncation.
    const map = extentMapOf(source);
    jobs.push(map && r.file + r.len <= source.size ? readSkippingHoles(source, map, r.file, view) : preadExact(source, r.file, view));
    run = undefined;
  };
  while (pos < inDisk) {
    let e: Extent;
    try {
      e = lookup(pos, inDisk - pos);
    } catch (err) {
      await Promise.allSettled(jobs); // no unhandled rejections from reads already started
      throw err;
    }
    const dst = pos - offset;
    if (e.kind === 'data') {
      if (run && run.file + run.len === e.fileOffset && run.dst + run.len === dst) run.len += e.length;
      else {
        flush();
        run = { dst, file: e.fileOffset, len: e.length };
      }
    } else {
      flush();
      const view = out.subarray(dst, dst + e.length);
      if (e.kind === 'zero') view.fill(0);
      else if (e.kind === 'parent') {
        if (parent) jobs.push(readParent(parent, pos, view));
        else view.fill(0);
      } else jobs.push(e.fill(view));
    }
    pos += e.length;
  }
  flush();
  if (inDisk < end) out.fill(0, Math.max(0, inDisk - offset));
  await Promise.all(jobs);
  return out;
}

async function readParent(parent: Disk, pos: number, view: Buffer): Promise<void> {
  const avail = Math.max(0, Math.min(view.length, parent.virtualSize - pos));
  if (avail > 0) await parent.read(pos, avail, view.subarray(0, avail));
  if (avail < view.length) view.fill(0, avail);
}

/**
 * blocks() of a disk in a chain: its own allocated blocks plus the parent's, mapped onto this
 * disk's block size, ascending and without duplicates.
 */
export async function* chainBlocks(own: Iterable<number>, blockSize: number, virtualSize: number, parent?: Disk): AsyncGenerator<number> {
  if (!parent) {
    yield* own;
    return;
  }
  const flags = new Uint8Array(Math.ceil(virtualSize / blockSize));
  for (const b of own) flags[b] = 1;
  const pbs = parent.blockSize;
  for await (const pb of parent.blocks()) {
    const start = pb * pbs;
    if (start >= virtualSize) break;
    const last = Math.floor((Math.min(start + pbs, virtualSize) - 1) / blockSize);
    for (let b = Math.floor(start / blockSize); b <= last; b++) flags[b] = 1;
  }
  for (let i = flags.indexOf(1); i !== -1; i = flags.indexOf(1, i + 1)) yield i;
}

/** Fill `view` from `position` or throw DISK_TRUNCATED. */
export async function preadExact(source: ByteSource, position: number, view: Buffer): Promise<void> {
  const n = await source.pread(view, position);
  if (n < view.length) throw truncated(source.name, position, view.length, source.size);
}
