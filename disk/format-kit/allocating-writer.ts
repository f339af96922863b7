/**
 * The data phase shared by the sparse writers (VHDX dynamic, VMDK monolithicSparse, qcow2): read the
 * candidate units of the source with several reads in flight, skip all-zero clusters, allocate
 * the others one after the other from `dataStart` (so the file grows forward). Zero parts inside an
 * allocated cluster are written explicitly (no sparse host files: Hyper-V refuses them and
 * SMB/NTFS sparse files are a trap, disk-formats §3.2) unless `holes` (the engine's
 * `extra.sparse === true`, set for local files only): then they stay holes, like qemu-img's output.
 * The caller writes the metadata after.
 */
import type { Disk, Sink, WriteContext } from '../types.js';
import { throwIfCancelled } from '../../core/errors.js';
import { BufferPool, mapOrdered } from './ordered.js';
import { UNIT, candidateUnits, flaggedIndexes, readClamped } from './source-units.js';
import { ZERO, isZero } from './zero.js';
import { WriteWindow } from './write-window.js';

export interface AllocationResult {
  /** Per cluster: file offset / `granule`, 0 when the cluster was not allocated. */
  offsets: Uint32Array;
  /** First free file offset after the data. */
  end: number;
  allocatedClusters: number;
}

export async function writeAllocatedData(o: {
  src: Disk;
  sink: Sink;
  outSize: number;
  /** Allocation granularity of the output (VHDX block, VMDK grain, qcow2 cluster). */
  cluster: number;
  dataStart: number;
  /** Unit in which offsets are stored (must divide dataStart and cluster). */
  granule: number;
  ctx: WriteContext;
  /** Leave the zero parts of allocated clusters as holes (only for sinks that may be sparse). */
  holes?: boolean;
}): Promise<AllocationResult> {
  const { src, sink, outSize, cluster, granule, ctx } = o;
  const fill = !(o.holes === true && sink.seekable && !!sink.truncate);
  const unit = UNIT; // read granularity: 1 MiB, so a large block (VHDX) does not pull in the holes around the data
  const piece = Math.min(cluster, 64 * 1024); // zero detection granularity (qemu-img uses 4 KiB; writes are coalesced)
  const clusters = Math.ceil(outSize / cluster);
  const offsets = new Uint32Array(clusters);
  const flags = await candidateUnits(src, unit, outSize);
  const pool = new BufferPool(unit);
  const win = new WriteWindow(sink, ctx.inFlight ?? 8);
  let next = o.dataStart;
  let allocatedClusters = 0;
  // The allocated cluster being filled, and the virtual offset up to which it is written.
  let openCluster = -1;
  let fillPos = 0;
  const fileOf = (pos: number) => offsets[Math.floor(pos / cluster)] * granule + (pos % cluster);
  const closeOpen = async () => {
    if (openCluster < 0) return;
    const end = (openCluster + 1) * cluster;
    if (fill && fillPos < end) await win.zeros(fileOf(fillPos), end - fillPos);
    openCluster = -1;
  };
  let run: { buf: Buffer; from: number; to: number; file: number } | undefined;
  let unitWrites: Promise<void>[] = [];
  const flush = async () => {
    if (run) unitWrites.push((await win.write(run.buf.subarray(run.from, run.to), run.file)).done);
    run = undefined;
  };

  const reads = mapOrdered(flaggedIndexes(flags), ctx.inFlight ?? 8, async (u) => {
    throwIfCancelled(ctx.signal);
    const buf = await readClamped(src, u * unit, pool.get());
    return { u, buf };
  });
  for await (const { u, buf } of reads) {
    const base = u * unit;
    const len = Math.min(unit, outSize - base);
    for (let at = 0; at < len; at += piece) {
      const view = buf.subarray(at, at + piece);
      if (isZero(view.subarray(0, Math.min(piece, len - at)))) continue;
      const pos = base + at;
      const c = Math.floor(pos / cluster);
      if (c !== openCluster) {
        if (openCluster >= 0 && fillPos < (openCluster + 1) * cluster) {
          await flush();
          await closeOpen();
        }
        if (!offsets[c]) {
          offsets[c] = next / granule;
          next += cluster;
          allocatedClusters++;
        }
        openCluster = c;
        fillPos = c * cluster;
      }
      if (fill && pos > fillPos) {
        await flush();
        await win.zeros(fileOf(fillPos), pos - fillPos);
      }
      const file = fileOf(pos);
      if (run && run.buf === buf && run.to === at && run.file + (run.to - run.from) === file) run.to = at + piece;
      else {
        await flush();
        run = { buf, from: at, to: at + piece, file };
      }
      fillPos = pos + piece;
    }
    await flush();
    // The buffer goes back to the pool once its writes have landed.
    const writes = unitWrites;
    unitWrites = [];
    if (writes.length) void Promise.all(writes).then(() => pool.put(buf));
    else pool.put(buf);
    ctx.onProgress?.(Math.min(outSize, base + unit));
  }
  await closeOpen();
  await win.drain();
  ctx.onProgress?.(outSize);
  return { offsets, end: next, allocatedClusters };
}

export { ZERO };
