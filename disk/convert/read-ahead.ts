/**
 * Decorator: read-ahead with N reads in flight, for callers that read without their own buffer
 * (reads into a caller's buffer go straight to the inner disk). The allocation list (metadata only) says which
 * 2 MiB chunks hold data; when the writer reads chunk c, the next N allocated chunks after c are
 * already being read. A read of exactly one whole chunk hands over the prefetched buffer (no
 * copy); other reads copy out of the cached chunks. Unallocated chunks read as zeros without I/O.
 * Also the cancellation point (CANCELLED on every read once the signal fires) and the progress
 * source (virtual bytes consumed).
 */
import type { Disk } from '../types.js';
import { DiskDecorator } from './decorator.js';
import { throwIfCancelled } from '../../core/errors.js';
import { checkReadRange } from '../fields.js';
import { BlockSet, planBlocks } from '../block-map.js';
import { BufferPool } from './buffer-pool.js';

export const CHUNK = 2 << 20;

export interface ReadAheadOptions {
  inFlight?: number;
  signal?: AbortSignal;
  /** Virtual bytes consumed so far (the end of the furthest read). */
  onRead?(virtualEnd: number): void;
}

export class ReadAheadDisk extends DiskDecorator {
  private list?: number[];
  private set?: BlockSet;
  private loading?: Promise<void>;
  private readonly cache = new Map<number, Promise<Buffer>>();
  private cursor = 0;
  private readonly pool = new BufferPool(CHUNK);
  private readonly inFlight: number;
  private furthest = 0;

  constructor(
    inner: Disk,
    private readonly opts: ReadAheadOptions = {},
  ) {
    super(inner);
    this.inFlight = Math.max(1, opts.inFlight ?? 8);
  }

  private load(): Promise<void> {
    this.loading ??= planBlocks(this.inner, CHUNK, this.opts.signal).then((list) => {
      this.list = list;
      this.set = new BlockSet(Math.ceil(this.inner.virtualSize / CHUNK));
      for (const c of list) this.set.add(c);
    });
    return this.loading;
  }

  private chunkLen(c: number): number {
    return Math.min(CHUNK, this.inner.virtualSize - c * CHUNK);
  }

  private start(c: number): Promise<Buffer> {
    let p = this.cache.get(c);
    if (!p) {
      const len = this.chunkLen(c);
      const buf = this.pool.get().subarray(0, len);
      p = this.inner.read(c * CHUNK, len, buf);
      p.catch(() => undefined); // awaited later, or dropped on eviction
      this.cache.set(c, p);
    }
    return p;
  }

  /** Drop chunks before `c0` and keep N allocated chunks from `c0` on in flight. */
  private advance(c0: number): void {
    for (const k of this.cache.keys()) {
      if (k < c0) {
        const p = this.cache.get(k)!;
        this.cache.delete(k);
        p.then((b) => this.pool.release(b), () => undefined);
      }
    }
    const list = this.list!;
    if (this.cursor < list.length && list[this.cursor]! < c0) {
      let lo = this.cursor;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (list[mid]! < c0) lo = mid + 1;
        else hi = mid;
      }
      this.cursor = lo;
    }
    for (let i = this.cursor; i < list.length && i < this.cursor + this.inFlight; i++) this.start(list[i]!);
  }

  override async read(offset: number, length: number, buf?: Buffer): Promise<Buffer> {
    throwIfCancelled(this.opts.signal);
    checkReadRange(offset, length, this.inner.virtualSize, this.inner.source.name);
    if (buf) {
      // The caller reads into its own buffers and keeps its own reads in flight (format-kit's
      // mapOrdered): straight through, so no second copy out of a cached chunk and no hole read.
      const out = await this.inner.read(offset, length, buf);
      return this.done(offset, length, out);
    }
    await this.load();
    if (length === 0) return buf ?? Buffer.alloc(0);
    const c0 = Math.floor(offset / CHUNK);
    const c1 = Math.floor((offset + length - 1) / CHUNK);
    this.advance(c0);
    let out: Buffer;
    if (c0 === c1 && offset === c0 * CHUNK && length === this.chunkLen(c0) && this.set!.has(c0)) {
      out = await this.start(c0);
      this.cache.delete(c0); // handed over: the caller owns it now
    } else {
      out = Buffer.allocUnsafe(length);
      for (let c = c0; c <= c1; c++) {
        const from = Math.max(offset, c * CHUNK);
        const to = Math.min(offset + length, c * CHUNK + CHUNK);
        if (!this.set!.has(c)) {
          out.fill(0, from - offset, to - offset);
          continue;
        }
        const data = await this.start(c);
        data.copy(out, from - offset, from - c * CHUNK, to - c * CHUNK);
      }
    }
    return this.done(offset, length, out);
  }

  /** Cancellation point and progress after a read. */
  private done(offset: number, length: number, out: Buffer): Buffer {
    throwIfCancelled(this.opts.signal);
    if (offset + length > this.furthest) {
      this.furthest = offset + length;
      this.opts.onRead?.(this.furthest);
    }
    return out;
  }

  /** Give back a buffer this disk handed over (a whole-chunk read) once the writer is done with it. */
  release(buf: Buffer): void {
    this.pool.release(buf);
  }

  override async close(): Promise<void> {
    this.cache.clear();
    await this.inner.close();
  }
}
