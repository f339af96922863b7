/**
 * Decorator: exact allocation by reading (read-and-zero-scan). blocks() reads every candidate
 * block (N in flight) and lists only those with a non-zero byte. Used when a writer must know the
 * allocation before writing (sequential sinks) and the source cannot tell holes from data (raw
 * block devices, fully written raw files). Costs one extra read of the data.
 */
import type { Disk } from '../types.js';
import { DiskDecorator } from './decorator.js';
import { throwIfCancelled } from '../../core/errors.js';
import { isZero } from '../zero.js';

export class ZeroScanDisk extends DiskDecorator {
  private scanned?: number[];

  constructor(
    inner: Disk,
    private readonly opts: { inFlight?: number; signal?: AbortSignal; onScan?(virtualEnd: number): void } = {},
  ) {
    super(inner);
  }

  override async *blocks(): AsyncGenerator<number> {
    if (!this.scanned) {
      const found: number[] = [];
      const bs = this.inner.blockSize;
      const window: Array<[number, Promise<Buffer>]> = [];
      const n = Math.max(1, this.opts.inFlight ?? 8);
      const take = async () => {
        const [i, p] = window.shift()!;
        if (!isZero(await p)) found.push(i);
        this.opts.onScan?.(Math.min(this.inner.virtualSize, (i + 1) * bs));
      };
      for await (const i of this.inner.blocks()) {
        throwIfCancelled(this.opts.signal);
        const off = i * bs;
        window.push([i, this.inner.read(off, Math.min(bs, this.inner.virtualSize - off))]);
        if (window.length >= n) await take();
      }
      while (window.length) await take();
      this.scanned = found;
    }
    yield* this.scanned;
  }
}
