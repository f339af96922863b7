/**
 * The data phase shared by the sparse writers (VHDX dynamic, VMDK monolithicSparse, qcow2): read the
 * candidate units of the source with several reads in flight, skip all-zero clusters, allocate
 * the others one after the other from `dataStart` (so the file grows forward). Zero parts inside an
 * allocated cluster are written explicitly (no sparse host files: Hyper-V refuses them and
 * SMB/NTFS sparse files are a trap, disk-formats §3.2) unless `holes` (the engine's
 * `extra.sparse === true`, set for local files only): then they stay holes, like qemu-img's output.
 * The caller writes the metadata after.
 *
 * Two data paths share the placement (ClusterPlacer): the JS one below, and the native one
 * (../convert/native-copy.ts) for a local source laid out as the disk (raw, fixed VHD) going to a local file.
 */
import type { Disk, Sink, WriteContext } from '../types.js';
import { throwIfCancelled } from '../../core/errors.js';
import { BufferPool, mapOrdered } from './ordered.js';
import { UNIT, candidateUnits, flaggedIndexes, readClamped } from './source-units.js';
import { ZERO, isZero } from './zero.js';
import { WriteWindow } from './write-window.js';
import { NativeCopier, RUN_ZEROS, nativeRoute, scanWindows, type NativeRoute } from '../convert/native-copy.js';

export interface AllocationResult {
  /** Per cluster: file offset / `granule`, 0 when the cluster was not allocated. */
  offsets: Uint32Array;
  /** First free file offset after the data. */
  end: number;
  allocatedClusters: number;
}

export interface AllocationInput {
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
}

/** Where the non-zero pieces go: what a data path does with them. */
interface PlacementOps {
  zeros(file: number, length: number): Promise<void>;
  data(pos: number, file: number, length: number): Promise<void>;
}

/**
 * Places the non-zero pieces, given in increasing virtual order: a cluster is allocated at the end
 * of the file when its first piece comes; with `fill`, the gaps between pieces and the rest of the
 * cluster are zeros.
 */
class ClusterPlacer {
  readonly offsets: Uint32Array;
  next: number;
  allocatedClusters = 0;
  /** The allocated cluster being filled, and the virtual offset up to which it is written. */
  private open = -1;
  private fillPos = 0;

  constructor(
    private readonly o: AllocationInput,
    private readonly fill: boolean,
    private readonly ops: PlacementOps,
  ) {
    this.offsets = new Uint32Array(Math.ceil(o.outSize / o.cluster));
    this.next = o.dataStart;
  }

  private fileOf(pos: number): number {
    return this.offsets[Math.floor(pos / this.o.cluster)]! * this.o.granule + (pos % this.o.cluster);
  }

  /** A non-zero piece [pos, pos + length) (never across a cluster boundary). */
  async piece(pos: number, length: number): Promise<void> {
    const c = Math.floor(pos / this.o.cluster);
    if (c !== this.open) {
      await this.close();
      if (!this.offsets[c]) {
        this.offsets[c] = this.next / this.o.granule;
        this.next += this.o.cluster;
        this.allocatedClusters++;
      }
      this.open = c;
      this.fillPos = c * this.o.cluster;
    }
    if (this.fill && pos > this.fillPos) await this.ops.zeros(this.fileOf(this.fillPos), pos - this.fillPos);
    await this.ops.data(pos, this.fileOf(pos), length);
    this.fillPos = pos + length;
  }

  /** Zero the rest of the open cluster (with `fill`). */
  async close(): Promise<void> {
    if (this.open < 0) return;
    const end = (this.open + 1) * this.o.cluster;
    if (this.fill && this.fillPos < end) await this.ops.zeros(this.fileOf(this.fillPos), end - this.fillPos);
    this.open = -1;
  }

  result(): AllocationResult {
    return { offsets: this.offsets, end: this.next, allocatedClusters: this.allocatedClusters };
  }
}

export async function writeAllocatedData(o: AllocationInput): Promise<AllocationResult> {
  const { src, sink, outSize, cluster, ctx } = o;
  const fill = !(o.holes === true && sink.seekable && !!sink.truncate);
  const piece = Math.min(cluster, 64 * 1024); // zero detection granularity (qemu-img uses 4 KiB; writes are coalesced)
  const flags = await candidateUnits(src, UNIT, outSize);
  const route = nativeRoute(src, sink);
  if (route) return nativeData(route, o, fill, piece, flags);

  // Read granularity UNIT (1 MiB), so a large block (VHDX) does not pull in the holes around the data.
  const pool = new BufferPool(UNIT);
  const win = new WriteWindow(sink, ctx.inFlight ?? 8);
  // Consecutive pieces of one buffer that are consecutive in the file go out as one write.
  let buf: Buffer = ZERO;
  let base = 0;
  let run: { buf: Buffer; from: number; to: number; file: number } | undefined;
  let unitWrites: Promise<void>[] = [];
  const flush = async () => {
    if (run) unitWrites.push((await win.write(run.buf.subarray(run.from, run.to), run.file)).done);
    run = undefined;
  };
  const placer = new ClusterPlacer(o, fill, {
    zeros: async (file, length) => {
      await flush();
      await win.zeros(file, length);
    },
    data: async (pos, file, length) => {
      const at = pos - base;
      if (run && run.buf === buf && run.to === at && run.file + (run.to - run.from) === file) run.to = at + length;
      else {
        await flush();
        run = { buf, from: at, to: at + length, file };
      }
    },
  });

  const reads = mapOrdered(flaggedIndexes(flags), ctx.inFlight ?? 8, async (u) => {
    throwIfCancelled(ctx.signal);
    return { u, buf: await readClamped(src, u * UNIT, pool.get()) };
  });
  for await (const r of reads) {
    buf = r.buf;
    base = r.u * UNIT;
    const len = Math.min(UNIT, outSize - base);
    // A last piece past the end of the disk goes out whole: readClamped zero-filled its tail.
    for (let at = 0; at < len; at += piece) {
      if (!isZero(buf.subarray(at, Math.min(at + piece, len)))) await placer.piece(base + at, piece);
    }
    await flush();
    // The buffer goes back to the pool once its writes have landed.
    const writes = unitWrites;
    unitWrites = [];
    const done = buf;
    if (writes.length) void Promise.all(writes).then(() => pool.put(done));
    else pool.put(done);
    ctx.onProgress?.(Math.min(outSize, base + UNIT));
  }
  await placer.close();
  await win.drain();
  ctx.onProgress?.(outSize);
  return placer.result();
}

/**
 * The native data path: the candidate units are scanned per `piece`, window by window, and the
 * placement goes out as copy runs. A piece reaching past the end of the source is copied up to it
 * and zero-filled after, as the JS path writes it.
 */
async function nativeData(route: NativeRoute, o: AllocationInput, fill: boolean, piece: number, flags: Uint8Array): Promise<AllocationResult> {
  const { outSize, ctx } = o;
  const srcEnd = Math.min(outSize, o.src.virtualSize);
  let mark = 0;
  const copier = new NativeCopier(route, { skipZeros: false, piece }, ctx);
  const placer = new ClusterPlacer(o, fill, {
    zeros: (file, length) => copier.add(RUN_ZEROS, file, length, mark),
    data: async (pos, file, length) => {
      const n = Math.max(0, Math.min(length, srcEnd - pos));
      await copier.add(pos, file, n, mark);
      if (n < length) await copier.add(RUN_ZEROS, file + n, length - n, mark);
    },
  });
  const units = [...flaggedIndexes(flags)].filter((u) => u * UNIT < srcEnd);
  const rangeOf = (u: number) => [u * UNIT, Math.min(UNIT, srcEnd - u * UNIT)];
  for await (const window of scanWindows(route, units, rangeOf, piece, ctx)) {
    for (const { item: u, flags: nonZero } of window) {
      const base = u * UNIT;
      for (let k = 0; k < nonZero.length; k++) if (nonZero[k]) await placer.piece(base + k * piece, piece);
      mark = Math.min(outSize, base + UNIT);
    }
    await copier.flush();
  }
  await placer.close();
  await copier.flush();
  ctx.onProgress?.(outSize);
  return placer.result();
}

export { ZERO };
