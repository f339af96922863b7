/**
 * Several pwrites in flight on a seekable sink (like qemu-img -W), one at a time on a sequential
 * one. A failed write fails the next call (and drain()). Buffers must not be reused until drained.
 */
import type { Sink } from '../types.js';

/** A source that recycles the buffers it hands out (convert/read-ahead.ts). */
export interface Recycler {
  release?(buf: Buffer): void;
}

/**
 * Runs of non-zero `unit`-sized pieces of `data` as [offset, length] (adjacent pieces merged), so a
 * block with holes is written as few large writes.
 */
export function nonZeroRuns(data: Buffer, unit: number, isZero: (b: Buffer) => boolean): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (let o = 0; o < data.length; o += unit) {
    const n = Math.min(unit, data.length - o);
    if (isZero(data.subarray(o, o + n))) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === o) last[1] += n;
    else runs.push([o, n]);
  }
  return runs;
}

/** `done` callback that releases `buf` back to `src` after `n` writes of its pieces finished. */
export function releaseAfter(src: unknown, buf: Buffer, n: number): () => void {
  const r = (src as Recycler).release?.bind(src);
  let left = n;
  if (r && n === 0) r(buf);
  return () => {
    if (--left === 0) r?.(buf);
  };
}

export class WriteQueue {
  private readonly pending = new Set<Promise<void>>();
  private error: unknown;
  written = 0;

  constructor(
    readonly sink: Sink,
    private readonly limit = sink.seekable ? Number(process.env.CE_WRITES_IN_FLIGHT) || 4 : 1,
  ) {}

  /** Queue a write; `done` runs once the sink no longer needs `data` (to recycle the buffer). */
  async write(data: Buffer, position: number, done?: () => void): Promise<void> {
    if (this.error) throw this.error;
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.error) throw this.error;
    if (this.limit === 1) {
      await this.sink.pwrite(data, position);
      this.written += data.length;
      done?.();
      return;
    }
    const p: Promise<void> = this.sink
      .pwrite(data, position)
      .then(() => {
        this.written += data.length;
        done?.();
      })
      .catch((e: unknown) => {
        this.error ??= e;
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Contiguous buffers at `position`: one gather write when the sink has pwritev. */
  async writev(data: Buffer[], position: number, done?: () => void): Promise<void> {
    if (!this.sink.pwritev || data.length === 1) {
      let pos = position;
      let left = data.length;
      for (const b of data) {
        await this.write(b, pos, () => --left === 0 && done?.());
        pos += b.length;
      }
      return;
    }
    const length = data.reduce((n, b) => n + b.length, 0);
    if (this.error) throw this.error;
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.error) throw this.error;
    const p: Promise<void> = this.sink
      .pwritev(data, position)
      .then(() => {
        this.written += length;
        done?.();
      })
      .catch((e: unknown) => {
        this.error ??= e;
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
    if (this.limit === 1) await p;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    if (this.error) throw this.error;
  }
}
