/**
 * Several pwrites in flight on a seekable sink (like qemu-img -W), one at a time on a sequential
 * one. A failed write fails the next call (and drain()). Buffers must not be reused until drained.
 */
import type { Sink } from '../types.js';

/** A source that recycles the buffers it hands out (convert/read-ahead.ts). */
export interface Recycler {
  release?(buf: Buffer): void;
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

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    if (this.error) throw this.error;
  }
}
