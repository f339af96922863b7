/**
 * Several writes in flight on a seekable sink (qemu-img's `-W`: out-of-order writes at computed
 * offsets); on a sequential sink the window is 1 so positions stay in order. `write` resolves when
 * the write is admitted and returns its completion, so callers can recycle buffers when it lands.
 */
import type { Sink } from '../types.js';
import { ZERO, ZERO_WINDOW } from './zero.js';

export class WriteWindow {
  private readonly inflight = new Set<Promise<void>>();
  private error: unknown;
  private readonly limit: number;

  constructor(private readonly sink: Sink, limit = 8) {
    this.limit = sink.seekable ? limit : 1;
  }

  async write(buf: Buffer, position: number): Promise<{ done: Promise<void> }> {
    while (this.inflight.size >= this.limit) await Promise.race(this.inflight);
    if (this.error) throw this.error;
    const p: Promise<void> = this.sink.pwrite(buf, position).then(
      () => { this.inflight.delete(p); },
      (e) => { this.inflight.delete(p); this.error ??= e; },
    );
    this.inflight.add(p);
    return { done: p };
  }

  async zeros(position: number, length: number): Promise<void> {
    for (let done = 0; done < length; done += ZERO_WINDOW) {
      await this.write(ZERO.subarray(0, Math.min(ZERO_WINDOW, length - done)), position + done);
    }
  }

  /** Wait for every write; throws the first write error. */
  async drain(): Promise<void> {
    await Promise.all(this.inflight);
    if (this.error) throw this.error;
  }
}
