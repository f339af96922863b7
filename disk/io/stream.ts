/** A forward-only Sink over a Node Writable (stdout, a pipe, an HTTP body). */
import type { Writable } from 'node:stream';
import type { Sink } from '../types.js';
import { CeError } from '../../core/errors.js';

export class StreamSink implements Sink {
  readonly seekable = false;
  private pos = 0;

  constructor(
    readonly name: string,
    private readonly out: Writable,
  ) {}

  get written(): number {
    return this.pos;
  }

  async pwrite(data: Buffer, position: number): Promise<void> {
    if (position !== this.pos) {
      throw new CeError('DISK_SINK_SEQUENTIAL', `${this.name} is a stream: write at ${position}, expected ${this.pos}.`, { status: 500 });
    }
    this.pos += data.length;
    // Resolve when the stream has written the chunk: the writer may then reuse the buffer.
    await new Promise<void>((resolve, reject) => {
      this.out.write(data, (e) => (e ? reject(e) : resolve()));
    });
  }

  async close(): Promise<void> {
    if (this.out === process.stdout) return;
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}
