/**
 * Writer `raw`: the virtual bytes as they are.
 *
 * Holes: only when the caller says the sink is a local file where holes are fine
 * (`opts.extra.sparse === true`, set by the engine for local FileSinks, never for SMB/NTFS
 * targets or the hyperv preset: Hyper-V refuses sparse host files, disk-formats.md §3.2). Then
 * all-zero 1 MiB pieces are skipped and the final truncate sets the length. Otherwise every
 * byte is written, zeros included, in order, so the sink may also be a pipe.
 */
import type { Disk, DiskWriter, Sink, WriteContext, WriterOptions, WriteResult } from '../types.js';
import { CeError, throwIfCancelled } from '../../core/errors.js';
import { planBlocks } from '../block-map.js';
import { isZero, zeros, ZERO_CHUNK } from '../zero.js';
import { WriteQueue, nonZeroRuns, releaseAfter } from '../convert/write-queue.js';
import { Committer } from '../convert/commit.js';

/** Unit of reads (2 MiB: one VHD block, one read-ahead chunk). */
export const RAW_STEP = 2 << 20;
/** Unit of hole detection. */
const HOLE_UNIT = 1 << 20;

export function outputSize(src: Disk, opts: WriterOptions): number {
  const size = opts.virtualSize ?? src.virtualSize;
  if (size < src.virtualSize) {
    throw new CeError('DISK_SIZE_SHRINK', `The output size ${size} is smaller than the source's ${src.virtualSize}.`, {
      hint: 'A conversion never shrinks a disk.',
      status: 400,
    });
  }
  return size;
}

/**
 * Write the virtual bytes [0, size) of `src` at `base` in the sink: planned blocks read and
 * written, the rest zero (written explicitly unless sparse). Shared by `raw` and `vhd-fixed`.
 */
export async function writeFlatData(src: Disk, q: WriteQueue, size: number, sparse: boolean, ctx: WriteContext, base = 0): Promise<void> {
  const planned = await planBlocks(src, RAW_STEP, ctx.signal);
  const from = Math.floor((ctx.resumeFrom ?? 0) / RAW_STEP) * RAW_STEP;
  const committer = new Committer(q, ctx);
  let pos = from;
  const zeroFill = async (to: number) => {
    if (sparse) return;
    while (pos < to) {
      throwIfCancelled(ctx.signal);
      const n = Math.min(ZERO_CHUNK.length, to - pos);
      await q.write(zeros(n), base + pos);
      pos += n;
    }
  };
  for (const idx of planned) {
    const off = idx * RAW_STEP;
    if (off < from) continue;
    throwIfCancelled(ctx.signal);
    await zeroFill(off);
    const len = Math.min(RAW_STEP, src.virtualSize - off);
    const data = await src.read(off, len);
    if (sparse) {
      const runs = nonZeroRuns(data, HOLE_UNIT, isZero);
      const done = releaseAfter(src, data, runs.length);
      for (const [o, n] of runs) await q.write(data.subarray(o, o + n), base + off + o, done);
    } else {
      await q.write(data, base + off, releaseAfter(src, data, 1));
    }
    pos = off + len;
    ctx.onProgress?.(pos);
    await committer.maybe(pos, base + pos);
  }
  await zeroFill(size);
  await q.drain();
  ctx.onProgress?.(size);
}

export const rawWriter: DiskWriter = {
  target: 'raw',
  format: 'raw',
  subformat: 'file',
  streamable: true,
  async write(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
    const size = outputSize(src, opts);
    const sparse = opts.extra?.sparse === true && sink.seekable && typeof sink.truncate === 'function';
    // No pre-sizing: the final truncate sets the length (holes stay holes).
    const q = new WriteQueue(sink);
    await writeFlatData(src, q, size, sparse, ctx);
    if (sink.truncate) await sink.truncate(size);
    return { fileSize: size };
  },
};
