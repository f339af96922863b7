/**
 * Range-checked parsing of on-disk integers. Every 64-bit field is read as BigInt and must fit
 * a JS number (≤ 2^53) or the parse fails with DISK_FIELD_RANGE (disk-formats.md §3.4), so the
 * rest of the engine works with plain numbers.
 */
import { CeError } from '../core/errors.js';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

export function checkedU64(v: bigint, field: string, file: string): number {
  if (v > MAX) {
    throw new CeError('DISK_FIELD_RANGE', `${file}: field ${field} = ${v} is larger than 2^53.`, {
      hint: 'The image header is damaged or not of this format.',
      details: { field, value: v.toString() },
    });
  }
  return Number(v);
}

export function u64be(buf: Buffer, off: number, field: string, file: string): number {
  return checkedU64(buf.readBigUInt64BE(off), field, file);
}

export function u64le(buf: Buffer, off: number, field: string, file: string): number {
  return checkedU64(buf.readBigUInt64LE(off), field, file);
}

/** DISK_READ_RANGE unless [offset, offset+length) lies inside [0, size). */
export function checkReadRange(offset: number, length: number, size: number, name: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new CeError('DISK_READ_RANGE', `${name}: read of ${length} bytes at ${offset} is outside the virtual size ${size}.`, {
      hint: 'This is a bug in the caller: reads must stay inside the virtual disk.',
      status: 500,
      details: { offset, length, size },
    });
  }
}

export const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
