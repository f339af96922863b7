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
import { candidateUnits } from '../format-kit/source-units.js';
import { mapOrdered } from '../format-kit/ordered.js';
import { AlignedPool } from '../io/aligned.js';
import { isZero, zeros, ZERO_CHUNK } from '../zero.js';
import { WriteQueue, nonZeroRuns, releaseAfter } from '../convert/write-queue.js';
import { Committer } from '../convert/commit.js';
import { NativeCopier, RUN_ZEROS, nativeRoute } from '../convert/native-copy.js';

/**
 * Largest read: 1 MiB (one hole unit). Measured: 2 MiB and 4 MiB reads were 1.5-2x slower here;
 * smaller buffers stay in the CPU cache between the read copy and the write copy.
 */
export const RAW_STEP = 1 << 20;
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
 * Write the virtual bytes [0, size) of `src` at `base` in the sink: the 1 MiB units the source's
 * allocation lists are read (ctx.inFlight reads in flight, into pooled page-aligned buffers, holes
 * never read), the rest is zero (written explicitly unless sparse). Writes are issued in order
 * (a pipe works; a streaming hash stays valid). Shared by `raw` and `vhd-fixed`.
 */
export async function writeFlatData(src: Disk, q: WriteQueue, size: number, sparse: boolean, ctx: WriteContext, base = 0): Promise<void> {
  const from = Math.floor((ctx.resumeFrom ?? 0) / RAW_STEP) * RAW_STEP;
  const flags = await candidateUnits(src, HOLE_UNIT, src.virtualSize);
  const route = nativeRoute(src, q.sink, { mapped: true });
  if (route) {
    // The same runs, read, checked and written by the native loop (../convert/native-copy.ts);
    // virtual offsets go through the source's layout (raw, fixed VHD: the same; dynamic VHD, VHDX: their blocks).
    await q.drain();
    const committer = new Committer(q, ctx);
    const copier = new NativeCopier(route, { skipZeros: sparse, piece: HOLE_UNIT }, ctx, (mark) => committer.maybe(mark, base + mark));
    let at = from;
    for (const [u, n] of dataRuns(flags, from / HOLE_UNIT, RAW_STEP / HOLE_UNIT)) {
      const off = u * HOLE_UNIT;
      const len = Math.min(n * HOLE_UNIT, src.virtualSize - off);
      if (!sparse) await copier.add(RUN_ZEROS, base + at, off - at, off);
      for (let pos = off; pos < off + len; ) {
        const [file, m] = route.layout.at(pos, off + len - pos);
        // Progress mark: the end of this piece (a checkpoint between pieces claims only what is written).
        if (file >= 0) await copier.add(file, base + pos, m, pos + m);
        else if (!sparse) await copier.add(RUN_ZEROS, base + pos, m, pos + m);
        pos += m;
      }
      at = off + len;
    }
    if (!sparse) await copier.add(RUN_ZEROS, base + at, size - at, size);
    await copier.flush();
    ctx.onProgress?.(size);
    return;
  }
  const inFlight = Math.max(1, ctx.inFlight ?? 8);
  const pool = new AlignedPool(RAW_STEP, 4, 2 * inFlight + 8);
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
  const reads = mapOrdered(dataRuns(flags, from / HOLE_UNIT, RAW_STEP / HOLE_UNIT), inFlight, async ([u, n]) => {
    throwIfCancelled(ctx.signal);
    const off = u * HOLE_UNIT;
    const len = Math.min(n * HOLE_UNIT, src.virtualSize - off);
    const buf = pool.get();
    return { off, data: await src.read(off, len, buf.subarray(0, len)), buf };
  });
  for await (const { off, data, buf } of reads) {
    await zeroFill(off);
    const release = () => pool.put(buf);
    if (sparse) {
      const runs = nonZeroRuns(data, HOLE_UNIT, isZero);
      const done = releaseAfter({ release }, buf, runs.length);
      for (const [o, n] of runs) await q.write(data.subarray(o, o + n), base + off + o, done);
    } else {
      await q.write(data, base + off, release);
    }
    pos = off + data.length;
    ctx.onProgress?.(pos);
    await committer.maybe(pos, base + pos);
  }
  await zeroFill(size);
  await q.drain();
  ctx.onProgress?.(size);
}

/**
 * [first unit, unit count] runs of flagged units from unit `from` on, at most `max` units long and
 * never crossing a multiple of `max` (so a read fills at most one pooled buffer).
 */
export function* dataRuns(flags: Uint8Array, from: number, max: number): Generator<[number, number]> {
  let u = flags.indexOf(1, from);
  while (u !== -1) {
    const limit = Math.min(flags.length, (Math.floor(u / max) + 1) * max);
    let e = u + 1;
    while (e < limit && flags[e]) e++;
    yield [u, e - u];
    u = flags.indexOf(1, e);
  }
}

/**
 * Whether a flat output may keep holes (asked for, and the sink can seek and truncate); if so,
 * pre-size it first (as qemu-img does): writes then land inside the file's length instead of
 * extending it at scattered offsets (ext4 updates the size per page for those). Else the
 * writer's final truncate sets the size.
 */
export async function presizeIfSparse(sink: Sink, opts: WriterOptions, ctx: WriteContext, fileSize: number): Promise<boolean> {
  const sparse = opts.extra?.sparse === true && sink.seekable && typeof sink.truncate === 'function';
  if (sparse && !ctx.resumeFrom) await sink.truncate!(fileSize);
  return sparse;
}

export const rawWriter: DiskWriter = {
  target: 'raw',
  format: 'raw',
  subformat: 'file',
  streamable: true,
  async write(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
    const size = outputSize(src, opts);
    const sparse = await presizeIfSparse(sink, opts, ctx, size);
    const q = new WriteQueue(sink);
    await writeFlatData(src, q, size, sparse, ctx);
    if (sink.truncate) await sink.truncate(size);
    return { fileSize: size };
  },
};
