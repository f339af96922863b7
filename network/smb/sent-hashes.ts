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
  /** Ranges whose content we can no longer vouch for (older extents partly overwritten). */
  private unverified: Array<{ pos: number; len: number }> = [];

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
      if (!covered) {
        this.unverifiableBytes += e.len - (Math.min(end, e.pos + e.len) - Math.max(start, e.pos));
        if (e.pos < start) this.unverified.push({ pos: e.pos, len: start - e.pos });
        if (e.pos + e.len > end) this.unverified.push({ pos: end, len: e.pos + e.len - end });
      }
      return false;
    });
  }

  /** The file was cut (or extended) to `length`: extents beyond it no longer hold. */
  truncate(length: number): void {
    this.finish();
    this.dropOverlaps(length, Number.MAX_SAFE_INTEGER);
    this.maxEnd = Math.min(this.maxEnd, length);
  }

  /** The extents to read back, in file order. */
  extents(): Extent[] {
    this.finish();
    return [...this.done].sort((a, b) => a.pos - b.pos);
  }

  /**
   * The whole file [0, size) as ranges to check: extents (compare the digest), gaps never
   * written (must read as zero), unverifiable ranges left out. Ranges are at most `maxLen`.
   */
  plan(size: number, maxLen: number): Array<{ pos: number; len: number; digest?: Buffer }> {
    const ext = this.extents().filter((e) => e.pos < size);
    const covered = [...ext.map((e) => ({ pos: e.pos, end: e.pos + e.len })), ...this.unverified.map((u) => ({ pos: u.pos, end: u.pos + u.len }))].sort((a, b) => a.pos - b.pos);
    const out: Array<{ pos: number; len: number; digest?: Buffer }> = [...ext];
    let at = 0;
    const gap = (from: number, to: number) => {
      for (let p = from; p < to; p += maxLen) out.push({ pos: p, len: Math.min(maxLen, to - p) });
    };
    for (const c of covered) {
      if (c.pos > at) gap(at, Math.min(c.pos, size));
      at = Math.max(at, c.end);
    }
    if (at < size) gap(at, size);
    return out.sort((a, b) => a.pos - b.pos);
  }
}
