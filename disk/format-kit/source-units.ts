/**
 * What writers need from a source Disk: which fixed-size units (1 MiB by default) of the output may
 * hold data (from `blocks()`, metadata only), and a read that stops at the source's virtual size
 * (an output may be larger: presets round sizes up) and zero-fills the rest.
 */
import type { Disk } from '../types.js';

export const UNIT = 1024 * 1024;

/** Flags (1 = may hold data) for each `unit`-sized piece of [0, outSize). */
export async function candidateUnits(src: Disk, unit: number, outSize: number): Promise<Uint8Array> {
  const count = Math.ceil(outSize / unit);
  const flags = new Uint8Array(count);
  const limit = Math.min(src.virtualSize, outSize);
  const bs = src.blockSize;
  for await (const b of src.blocks()) {
    const start = b * bs;
    if (start >= limit) break;
    const end = Math.min(start + bs, limit);
    const last = Math.floor((end - 1) / unit);
    for (let u = Math.floor(start / unit); u <= last; u++) flags[u] = 1;
  }
  // Units under allocated blocks that are holes in a sparse image file hold only zeros: skip them.
  const filter = await src.dataFilter?.();
  if (filter) {
    for (let u = flags.indexOf(1); u !== -1; u = flags.indexOf(1, u + 1)) {
      const at = u * unit;
      if (at >= limit) break;
      if (!filter(at, Math.min(unit, limit - at))) flags[u] = 0;
    }
  }
  return flags;
}

export function* flaggedIndexes(flags: Uint8Array): Generator<number> {
  for (let i = flags.indexOf(1); i !== -1; i = flags.indexOf(1, i + 1)) yield i;
}

/** Read [offset, offset+buf.length) of the source; bytes past its virtual size read as zero. */
export async function readClamped(src: Disk, offset: number, buf: Buffer): Promise<Buffer> {
  const avail = Math.max(0, Math.min(buf.length, src.virtualSize - offset));
  if (avail > 0) await src.read(offset, avail, buf.subarray(0, avail));
  if (avail < buf.length) buf.fill(0, avail);
  return buf;
}
