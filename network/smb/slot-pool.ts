/**
 * A few reusable message-sized output buffers (page-aligned, see io-buffer.ts) for ciphertext
 * that waits for the socket: acquire() hands one out (waiting when all are in use), release()
 * gives it back. Reusing them avoids mapping and faulting in fresh memory for every message.
 */
import { ioBuffer } from './io-buffer.js';

export class SlotPool {
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private readonly waiters: Array<(slot: Buffer) => void> = [];

  constructor(
    readonly slotSize: number,
    private readonly slots: number,
  ) {}

  /** A slot and its release function, which gives it back once however often it is called. */
  async lease(): Promise<{ slot: Buffer; release(): void }> {
    const slot = await this.acquire();
    let released = false;
    return {
      slot,
      release: () => {
        if (released) return;
        released = true;
        this.release(slot);
      },
    };
  }

  acquire(): Promise<Buffer> {
    const slot = this.free.pop();
    if (slot) return Promise.resolve(slot);
    if (this.allocated < this.slots) {
      this.allocated++;
      return Promise.resolve(ioBuffer(this.slotSize));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(slot: Buffer): void {
    const w = this.waiters.shift();
    if (w) w(slot);
    else this.free.push(slot);
  }
}
