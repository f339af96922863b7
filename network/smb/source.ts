/**
 * An SMB file as a disk-engine ByteSource (disk/types.ts): pread() splits into READ requests of
 * the negotiated I/O size and sends them all at once (pipelined); opened read-only.
 */
import type { ByteSource } from '../../disk/types.js';
import type { SmbClient, SmbHandle } from './client.js';

export class SmbSource implements ByteSource {
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly client: SmbClient,
    private readonly handle: SmbHandle,
    private readonly ownsClient: boolean,
  ) {}

  async pread(buf: Buffer, position: number): Promise<number> {
    const want = Math.max(0, Math.min(buf.length, this.size - position));
    if (want === 0) return 0;
    const io = this.client.ioSize;
    const jobs: Array<Promise<number>> = [];
    for (let off = 0; off < want; off += io) {
      const n = Math.min(io, want - off);
      jobs.push(this.readFull(buf.subarray(off, off + n), position + off));
    }
    const got = await Promise.all(jobs);
    // Bytes are contiguous only up to the first short chunk.
    let total = 0;
    for (let i = 0; i < got.length; i++) {
      total += got[i]!;
      if (got[i]! < Math.min(io, want - i * io)) break;
    }
    return total;
  }

  private async readFull(view: Buffer, position: number): Promise<number> {
    let got = 0;
    while (got < view.length) {
      const n = await this.client.readChunk(this.handle, position + got, view.subarray(got));
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  async close(): Promise<void> {
    await this.client.close(this.handle).catch(() => undefined);
    if (this.ownsClient) await this.client.disconnect();
  }
}
