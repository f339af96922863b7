/**
 * `ce compare`: whether two images (any formats) hold the same virtual bytes, else the first
 * differing offset. Like `qemu-img compare`: when the sizes differ, the common part must match and
 * the extra part of the larger image must be zero. Only chunks allocated in either image are read.
 */
import { throwIfCancelled } from '../core/errors.js';
import type { Disk } from './types.js';
import { BlockSet, planBlocks } from './block-map.js';
import { CHUNK, ReadAheadDisk } from './convert/read-ahead.js';
import { isZero } from './zero.js';

export interface CompareResult {
  identical: boolean;
  sizeA: number;
  sizeB: number;
  /** First offset where the virtual bytes differ. */
  firstDifference?: number;
}

/** Index of the first differing byte of two equal-length buffers (memcmp halving, no byte loop over the whole). */
function firstDiff(a: Buffer, b: Buffer): number {
  let lo = 0;
  let hi = a.length;
  while (hi - lo > 64) {
    const mid = (lo + hi) >> 1;
    if (!a.subarray(lo, mid).equals(b.subarray(lo, mid))) hi = mid;
    else lo = mid;
  }
  for (let i = lo; i < hi; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export async function compareDisks(a: Disk, b: Disk, opts: { signal?: AbortSignal; inFlight?: number } = {}): Promise<CompareResult> {
  const size = Math.max(a.virtualSize, b.virtualSize);
  const set = new BlockSet(Math.ceil(size / CHUNK));
  for (const c of await planBlocks(a, CHUNK, opts.signal)) set.add(c);
  for (const c of await planBlocks(b, CHUNK, opts.signal)) set.add(c);
  const ra = new ReadAheadDisk(a, opts);
  const rb = new ReadAheadDisk(b, opts);
  const zero = Buffer.alloc(0);
  for (const c of set) {
    throwIfCancelled(opts.signal);
    const off = c * CHUNK;
    const len = Math.min(CHUNK, size - off);
    const part = async (d: Disk) => {
      const n = Math.max(0, Math.min(len, d.virtualSize - off));
      const buf = n ? await d.read(off, n) : zero;
      if (n === len) return buf;
      const full = Buffer.alloc(len);
      buf.copy(full);
      return full;
    };
    const [x, y] = await Promise.all([part(ra), part(rb)]);
    if (!x.equals(y)) return { identical: false, sizeA: a.virtualSize, sizeB: b.virtualSize, firstDifference: off + firstDiff(x, y) };
  }
  return { identical: true, sizeA: a.virtualSize, sizeB: b.virtualSize };
}

export { isZero };
