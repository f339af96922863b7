/**
 * A Sink that wraps what a writer produces as one member of a gzip-compressed tar
 * (GCP: `disk.raw` inside a `.tar.gz`, made like `tar --format=oldgnu -Sczf`). Sequential only:
 * the writer must write forward, which `raw` does on a non-seekable sink. Sizes ≥ 8 GiB use the
 * GNU base-256 size field (the octal field holds 11 digits). Deflate runs on libuv's threadpool.
 */
import { createGzip, constants as zc, type Gzip } from 'node:zlib';
import type { Sink } from '../types.js';
import { CeError } from '../../core/errors.js';

export function tarHeader(name: string, size: number, mtime = Math.floor(Date.now() / 1000)): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (size < 8 ** 11) h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  else {
    // GNU base-256: high bit of the first byte set, big-endian value in the remaining 11 bytes.
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  h.write(mtime.toString(8).padStart(11, '0') + '\0', 136, 'latin1');
  h.write('        ', 148, 'latin1'); // checksum computed with spaces
  h.write('0', 156, 'latin1'); // regular file
  h.write('ustar  \0', 257, 'latin1'); // GNU magic + version (oldgnu)
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

export class TarGzSink implements Sink {
  readonly seekable = false;
  private readonly gz: Gzip;
  private expected = 0;
  private outPos = 0;
  private pending: Promise<void> = Promise.resolve();
  private error: unknown;
  private readonly done: Promise<void>;

  constructor(
    private readonly inner: Sink,
    readonly member: string,
    private readonly memberSize: number,
    level = 1,
  ) {
    this.gz = createGzip({ level, chunkSize: 1 << 20, strategy: zc.Z_DEFAULT_STRATEGY });
    this.gz.on('data', (chunk: Buffer) => {
      const at = this.outPos;
      this.outPos += chunk.length;
      this.pending = this.pending.then(() => this.inner.pwrite(chunk, at)).catch((e: unknown) => {
        this.error ??= e;
      });
    });
    this.done = new Promise((resolve, reject) => {
      this.gz.on('end', resolve);
      this.gz.on('error', reject);
    });
    this.push(tarHeader(member, memberSize));
  }

  get name() {
    return `${this.inner.name}:${this.member}`;
  }

  private push(data: Buffer): Promise<void> {
    if (this.gz.write(data)) return Promise.resolve();
    return new Promise((r) => this.gz.once('drain', r));
  }

  async pwrite(data: Buffer, position: number): Promise<void> {
    if (this.error) throw this.error;
    if (position !== this.expected) {
      throw new CeError('DISK_SINK_SEQUENTIAL', `The tar.gz output is sequential: write at ${position}, expected ${this.expected}.`, { status: 500 });
    }
    this.expected += data.length;
    await this.push(Buffer.from(data)); // zlib keeps the chunk until deflated: copy (the writer may reuse it)
    await this.pending;
  }

  /** End the member (padding, two zero records) and the gzip stream; returns the compressed size. */
  async finish(): Promise<number> {
    if (this.expected !== this.memberSize) {
      throw new CeError('DISK_SINK_SHORT', `The tar member got ${this.expected} bytes, ${this.memberSize} announced.`, { status: 500 });
    }
    const pad = (512 - (this.memberSize % 512)) % 512;
    await this.push(Buffer.alloc(pad + 1024));
    this.gz.end();
    await this.done;
    await this.pending;
    if (this.error) throw this.error;
    return this.outPos;
  }

  async close(): Promise<void> {
    this.gz.destroy();
  }
}
