/**
 * Several pwrites in flight on a seekable sink (like qemu-img -W), one at a time on a sequential
 * one. A failed write fails the next call (and drain()). Buffers must not be reused until drained.
 */
import type { Sink } from '../types.js';

export class WriteQueue {
  private readonly pending = new Set<Promise<void>>();
  private error: unknown;
  written = 0;

  constructor(
    readonly sink: Sink,
    private readonly limit = sink.seekable ? 4 : 1,
  ) {}

  async write(data: Buffer, position: number): Promise<void> {
    if (this.error) throw this.error;
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.error) throw this.error;
    if (this.limit === 1) {
      await this.sink.pwrite(data, position);
      this.written += data.length;
      return;
    }
    const p: Promise<void> = this.sink
      .pwrite(data, position)
      .then(() => {
        this.written += data.length;
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
