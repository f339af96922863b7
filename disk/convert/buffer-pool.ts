/**
 * Reused, page-aligned buffers of one size (allocUnsafeSlow: each its own ArrayBuffer, which the
 * allocator page-aligns at these sizes). Bounded: a release beyond `max` lets the buffer go.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(
    readonly size: number,
    private readonly max = 16,
  ) {}

  get(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  release(buf: Buffer): void {
    if (buf.buffer.byteLength === this.size && this.free.length < this.max) this.free.push(Buffer.from(buf.buffer, 0, this.size));
  }
}
