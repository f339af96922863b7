/**
 * Zero detection at memcmp speed: compare against one static zero buffer with Buffer.equals
 * (native memcmp), never a byte loop in JS (disk-formats.md §6.3 item 3).
 */
import { alignedBuffer } from './io/aligned.js';
const ZERO = alignedBuffer(1 << 20); // page-aligned: eligible for direct I/O (io/file.ts)

/** A read-only zero-filled buffer of `length` bytes (≤ 1 MiB), for writing explicit zeros. */
export function zeros(length: number): Buffer {
  return length <= ZERO.length ? ZERO.subarray(0, length) : Buffer.alloc(length);
}

export const ZERO_CHUNK = ZERO;

export function isZero(buf: Buffer): boolean {
  // Random data usually differs in the first bytes: memcmp stops at the first difference.
  for (let off = 0; off < buf.length; off += ZERO.length) {
    const n = Math.min(ZERO.length, buf.length - off);
    if (!buf.subarray(off, off + n).equals(n === ZERO.length ? ZERO : ZERO.subarray(0, n))) return false;
  }
  return true;
}
