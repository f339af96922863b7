/**
 * Remembers what was sent to a file as SHA-256 digests of extents, so the file can be read back
 * and compared (--verify) without keeping the data. Contiguous writes extend the current extent
 * (up to 4 MiB, bounding the cost of a later overwrite); a later write that fully covers an
 * extent replaces it; a partial overlap makes the older extent unverifiable (counted, reported).
 */
import { createHash, type Hash } from 'node:crypto';

const MAX_EXTENT = 4 * 1024 * 1024;

export interface Extent {
  pos: number;
  len: number;
  digest: Buffer;
}

export class SentHashes {
  private done: Extent[] = [];
  private cur?: { pos: number; len: number; hash: Hash };
  private maxEnd = 0;
  unverifiableBytes = 0;

  add(data: Buffer, pos: number): void {
    let off = 0;
    while (off < data.length) {
      const c = this.cur;
      if (c && pos + off === c.pos + c.len && c.len < MAX_EXTENT) {
        const n = Math.min(data.length - off, MAX_EXTENT - c.len);
        c.hash.update(data.subarray(off, off + n));
        c.len += n;
        off += n;
        continue;
      }
      this.finish();
      const start = pos + off;
      const n = Math.min(data.length - off, MAX_EXTENT);
      if (start < this.maxEnd) this.dropOverlaps(start, start + n);
      this.cur = { pos: start, len: n, hash: createHash('sha256').update(data.subarray(off, off + n)) };
      off += n;
    }
    this.maxEnd = Math.max(this.maxEnd, pos + data.length);
  }

  private finish(): void {
    if (!this.cur) return;
    this.done.push({ pos: this.cur.pos, len: this.cur.len, digest: this.cur.hash.digest() });
    this.cur = undefined;
  }

  private dropOverlaps(start: number, end: number): void {
    this.done = this.done.filter((e) => {
      if (e.pos + e.len <= start || e.pos >= end) return true;
      const covered = e.pos >= start && e.pos + e.len <= end;
      if (!covered) this.unverifiableBytes += e.len - (Math.min(end, e.pos + e.len) - Math.max(start, e.pos));
      return false;
    });
  }

  /** The extents to read back, in file order. */
  extents(): Extent[] {
    this.finish();
    return [...this.done].sort((a, b) => a.pos - b.pos);
  }
}
