/**
 * The format writers' view of the one static zero buffer (../zero.ts: page-aligned, so explicit
 * zeros are eligible for direct I/O) and its zero detection.
 */
import { ZERO_CHUNK, isZero } from '../zero.js';

export const ZERO_WINDOW = ZERO_CHUNK.length;
export const ZERO = ZERO_CHUNK;
export { isZero };

/** Write `length` zero bytes at `position` through `pwrite`, in ZERO-sized pieces. */
export async function writeZeros(pwrite: (b: Buffer, p: number) => Promise<void>, position: number, length: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const n = Math.min(ZERO_WINDOW, length - done);
    await pwrite(ZERO.subarray(0, n), position + done);
    done += n;
  }
}
