/**
 * Decorator on a Sink: md5/sha256 of the output bytes while they stream. Writes that move forward
 * are hashed as they go; a gap before a write (a hole the writer leaves in a pre-sized file) is
 * hashed as zeros. A write behind the hashed position (a patched BAT) makes the stream hash
 * unusable: then `digests()` returns null and the engine hashes the finished file instead.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Sink } from '../types.js';
import { ZERO_CHUNK } from '../zero.js';

export type HashAlgo = 'md5' | 'sha256';
export const HASH_ALGOS: HashAlgo[] = ['md5', 'sha256'];

export class HashingSink implements Sink {
  private readonly hashes: Array<[HashAlgo, Hash]>;
  private pos = 0;
  private broken = false;

  constructor(
    readonly inner: Sink,
    algos: HashAlgo[],
  ) {
    this.hashes = algos.map((a) => [a, createHash(a)]);
  }

  get name() {
    return this.inner.name;
  }
  get seekable() {
    return this.inner.seekable;
  }

  /** Mark the stream hash unusable (resumed output). */
  invalidate(): void {
    this.broken = true;
  }

  private update(data: Buffer): void {
    for (const [, h] of this.hashes) h.update(data);
  }

  async pwrite(data: Buffer, position: number): Promise<void> {
    this.hashAt(data, position);
    await this.inner.pwrite(data, position);
  }

  private hashAt(data: Buffer, position: number): void {
    if (!this.broken) {
      if (position < this.pos) this.broken = true;
      else {
        while (this.pos < position) {
          const n = Math.min(ZERO_CHUNK.length, position - this.pos);
          this.update(ZERO_CHUNK.subarray(0, n));
          this.pos += n;
        }
        this.update(data);
        this.pos += data.length;
      }
    }
  }

  pwritev = async (data: Buffer[], position: number): Promise<void> => {
    let pos = position;
    for (const b of data) {
      this.hashAt(b, pos);
      pos += b.length;
    }
    if (this.inner.pwritev) await this.inner.pwritev(data, position);
    else {
      pos = position;
      for (const b of data) {
        await this.inner.pwrite(b, pos);
        pos += b.length;
      }
    }
  };

  truncate = async (length: number): Promise<void> => {
    if (length < this.pos) this.broken = true;
    await this.inner.truncate?.(length);
  };

  sync = async (): Promise<void> => {
    await this.inner.sync?.();
  };

  /** Hex digests if every byte up to `fileSize` went through in order, else null. */
  digests(fileSize: number): Record<string, string> | null {
    if (this.broken || this.pos > fileSize) return null;
    while (this.pos < fileSize) {
      const n = Math.min(ZERO_CHUNK.length, fileSize - this.pos);
      this.update(ZERO_CHUNK.subarray(0, n));
      this.pos += n;
    }
    return Object.fromEntries(this.hashes.map(([a, h]) => [a, h.digest('hex')]));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Hash a finished file (fallback when the output was not written in order). */
export async function hashFile(path: string, algos: HashAlgo[]): Promise<Record<string, string>> {
  const { open } = await import('node:fs/promises');
  const fh = await open(path, 'r');
  try {
    const hs = algos.map((a) => [a, createHash(a)] as const);
    const buf = Buffer.allocUnsafe(4 << 20);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (!bytesRead) break;
      for (const [, h] of hs) h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return Object.fromEntries(hs.map(([a, h]) => [a, h.digest('hex')]));
  } finally {
    await fh.close();
  }
}
