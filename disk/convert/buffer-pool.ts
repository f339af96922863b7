/**
 * Reused, page-aligned buffers of one size (disk/io/aligned.ts: page alignment makes the kernel's
 * copies ~3× cheaper). Bounded: a release beyond `max` lets the buffer go.
 */
import { AlignedPool } from '../io/aligned.js';

export class BufferPool {
  private readonly pool: AlignedPool;
  constructor(
    readonly size: number,
    max = 16,
  ) {
    this.pool = new AlignedPool(size, 4, max);
  }

  get(): Buffer {
    return this.pool.get();
  }

  release(buf: Buffer): void {
    this.pool.put(buf);
  }
}
