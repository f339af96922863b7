/** Zero detection at memcmp speed: compare windows against one static zero buffer (never byte loops in JS). */
import { alignedBuffer } from '../io/aligned.js';
export const ZERO_WINDOW = 1024 * 1024;
export const ZERO = alignedBuffer(ZERO_WINDOW); // page-aligned: eligible for direct I/O (io/file.ts)

export function isZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i += ZERO_WINDOW) {
    const n = Math.min(ZERO_WINDOW, buf.length - i);
    if (!buf.subarray(i, i + n).equals(ZERO.subarray(0, n))) return false;
  }
  return true;
}

/** Write `length` zero bytes at `position` through `pwrite`, in ZERO-sized pieces. */
export async function writeZeros(pwrite: (b: Buffer, p: number) => Promise<void>, position: number, length: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const n = Math.min(ZERO_WINDOW, length - done);
    await pwrite(ZERO.subarray(0, n), position + done);
    done += n;
  }
}
