/**
 * The native data path of the writers (../native/copy.c): when a source whose bytes lie in a local
 * file (Disk.localFile: raw files and fixed VHDs as they are; dynamic VHDs and VHDXs through their
 * block map, for the writers that map offsets) goes to a local
 * FileSink, the writers describe their data phase as runs [source offset, output offset, length]
 * and the addon does the reads, zero checks and writes
 * on a threadpool thread, in batches of BATCH bytes: progress, cancellation and resume
 * checkpoints happen between batches. Anything else (image sources, SMB, hashing, tar.gz, no
 * addon, CE_NATIVE_DISK=off) takes the JS path; both write the same bytes
 * (test/disk/native-copy.test.ts compares them).
 */
import type { Disk, LocalLayout, Sink, WriteContext } from '../types.js';
import { throwIfCancelled } from '../../core/errors.js';
import { FileSink, FileSource, truncated } from '../io/file.js';
import { commitEveryBytes } from './commit.js';
import { FALLOCATE, SKIP_ZEROS, nativeDisk, type NativeDisk } from '../io/native-disk.js';

export { RUN_FILL, RUN_ZEROS } from '../io/native-disk.js';

/** Bytes of runs per native call: large enough that the round trip is noise, small for progress. */
const BATCH = 64 << 20;

export interface NativeRoute {
  addon: NativeDisk;
  src: FileSource;
  layout: LocalLayout;
  sink: FileSink;
}

/**
 * The route when the native path applies, else undefined. `mapped`: the writer translates virtual
 * offsets through `layout.at()` (else only an identity layout, a raw file or fixed VHD, qualifies).
 */
export function nativeRoute(src: Disk, sink: Sink, opts: { mapped?: boolean } = {}): NativeRoute | undefined {
  const layout = src.localFile?.();
  if (!(sink instanceof FileSink) || !layout || (!layout.identity && !opts.mapped)) return undefined;
  const addon = nativeDisk();
  if (!addon) return undefined;
  sink.dataPath = 'native';
  return { addon, src: layout.file, layout, sink };
}

/**
 * Scans the source ranges of `items` window by window (about BATCH bytes each) and yields each
 * window with, per item, one flag per `piece` of its ranges (1 = holds a non-zero byte). The
 * caller copies a window right after it comes, so the copy reads what the scan just read (page
 * cache) rather than the whole source twice; the next window is scanned while it copies.
 */
export async function* scanWindows<T>(
  route: NativeRoute,
  items: readonly T[],
  rangesOf: (item: T) => number[],
  piece: number,
  ctx: WriteContext,
): AsyncGenerator<Array<{ item: T; flags: Uint8Array }>> {
  const scan = async (from: number): Promise<{ window: Array<{ item: T; flags: Uint8Array }>; to: number }> => {
    throwIfCancelled(ctx.signal);
    const runs: number[] = [];
    const counts: number[] = [];
    let bytes = 0;
    let to = from;
    for (; to < items.length && (to === from || bytes < BATCH); to++) {
      const r = rangesOf(items[to]!);
      let n = 0;
      for (let k = 0; k < r.length; k += 2) {
        runs.push(r[k]!, r[k + 1]!);
        bytes += r[k + 1]!;
        n += Math.ceil(r[k + 1]! / piece);
      }
      counts.push(n);
    }
    const flags = runs.length ? await route.addon.scan(route.src.fd, Float64Array.from(runs), piece).catch((e) => Promise.reject(mapError(e, route))) : new Uint8Array(0);
    let at = 0;
    const window = counts.map((n, k) => ({ item: items[from + k]!, flags: flags.subarray(at, (at += n)) }));
    return { window, to };
  };
  let pending = items.length ? scan(0) : undefined;
  try {
    while (pending) {
      const { window, to } = await pending;
      pending = to < items.length ? scan(to) : undefined;
      yield window;
    }
  } finally {
    // Stopped early (error, cancel): the scan in flight must not become an unhandled rejection.
    pending?.catch(() => {});
  }
}

/**
 * Collects runs and sends them to the addon in batches. `onBatch(mark)` runs after each batch with
 * the largest progress mark given to add() so far (virtual bytes done: progress, checkpoints).
 */
export class NativeCopier {
  private runs: number[] = [];
  private bytes = 0;
  private mark = 0;
  private fds?: { fd: number; directFd: number };
  /** Checkpoints fall between batches: no batch is longer than their interval. */
  private readonly batch: number;

  constructor(
    private readonly route: NativeRoute,
    private readonly opts: { skipZeros: boolean; piece: number; fill?: Buffer },
    private readonly ctx: WriteContext,
    private readonly onBatch?: (mark: number) => Promise<void>,
  ) {
    this.batch = ctx.onCommit ? Math.min(BATCH, commitEveryBytes()) : BATCH;
  }

  /** A run: `from` a source offset (or RUN_ZEROS / RUN_FILL) to `to` in the output. */
  async add(from: number, to: number, length: number, mark: number): Promise<void> {
    if (length <= 0) return;
    const last = this.runs.length - 3;
    // Contiguous source and output: one run (one read stream, fewer, larger writes).
    if (from >= 0 && last >= 0 && this.runs[last]! >= 0 && this.runs[last]! + this.runs[last + 2]! === from && this.runs[last + 1]! + this.runs[last + 2]! === to) {
      this.runs[last + 2] = this.runs[last + 2]! + length;
    } else this.runs.push(from, to, length);
    this.bytes += length;
    this.mark = Math.max(this.mark, mark);
    if (this.bytes >= this.batch) await this.flush();
  }

  /** Send what is collected; resolves once it is written. */
  async flush(): Promise<void> {
    if (!this.runs.length) return;
    throwIfCancelled(this.ctx.signal);
    const { addon, sink } = this.route;
    this.fds ??= await sink.descriptors();
    const flags = FALLOCATE | (this.opts.skipZeros ? SKIP_ZEROS : 0);
    const runs = Float64Array.from(this.runs);
    this.runs = [];
    this.bytes = 0;
    const [, direct] = await addon
      .copy(this.route.src.fd, this.fds.fd, this.fds.directFd, runs, this.opts.piece, flags, this.opts.fill)
      .catch((e) => Promise.reject(mapError(e, this.route)));
    sink.directBytes += direct;
    this.ctx.onProgress?.(this.mark);
    await this.onBatch?.(this.mark);
  }
}

/** A short read is the source's truncation; errno errors go on as they are (core/errors maps ENOSPC, EIO, …). */
function mapError(e: unknown, route: NativeRoute): unknown {
  const err = e as NodeJS.ErrnoException & { position?: number };
  if (err.code === 'DISK_SHORT_READ') return truncated(route.src.name, err.position ?? 0, 1, route.src.size);
  return err;
}
