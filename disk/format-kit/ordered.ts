/**
 * Run async work with a bounded number in flight and yield results in input order: reads (and
 * deflates) overlap, while the consumer still writes sequentially (qemu-img's coroutines, §6.1).
 */
import { AlignedPool } from '../io/aligned.js';

export async function* mapOrdered<T, R>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const queue: Promise<R>[] = [];
  const it = items[Symbol.iterator]();
  let done = false;
  const fill = () => {
    while (!done && queue.length < limit) {
      const n = it.next();
      if (n.done) {
        done = true;
        break;
      }
      const p = fn(n.value);
      p.catch(() => undefined); // surfaced when it reaches the head of the queue
      queue.push(p);
    }
  };
  fill();
  try {
    while (queue.length) {
      const r = await queue[0];
      queue.shift();
      fill();
      yield r;
    }
  } finally {
    // Stop early (error or consumer break): let the in-flight work finish quietly.
    await Promise.allSettled(queue);
  }
}

/**
 * A small pool of same-sized buffers, so the hot loop does not allocate per block. Page-aligned
 * (disk/io/aligned.ts: the kernel copies at full speed), unless `transferable`: then each buffer
 * owns its ArrayBuffer so it can be transferred to a worker thread (format-kit/deflate-pool.ts).
 */
export class BufferPool {
  private readonly pool?: AlignedPool;
  private free: Buffer[] = [];
  constructor(
    readonly size: number,
    opts: { transferable?: boolean } = {},
  ) {
    if (!opts.transferable) this.pool = new AlignedPool(size, 8, 64);
  }
  get(): Buffer {
    if (this.pool) return this.pool.get();
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }
  put(b: Buffer): void {
    if (this.pool) this.pool.put(b);
    else if (b.length === this.size && b.byteOffset === 0 && b.buffer.byteLength === this.size && this.free.length < 64) this.free.push(b);
  }
}
