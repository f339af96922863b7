/**
 * Safe field access for the format parsers: every 64-bit field is read as BigInt and
 * range-checked (≤ 2^53, architecture "JS numbers" quirk, disk-formats §3.4) so the rest of the
 * code uses plain numbers; anything out of range is a typed error with the format's prefix.
 */
import { CeError } from '../../core/errors.js';

export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A typed error for a format (`VHDX`, `VMDK`, `QCOW2`): code `${prefix}_${what}`. */
export function formatError(prefix: string, what: string, message: string, hint?: string, details?: unknown): CeError {
  return new CeError(`${prefix}_${what}`, message, {
    hint: hint ?? 'The image is damaged or not what its name says. Check the source, or copy it again.',
    details,
  });
}

export function u64le(buf: Buffer, off: number, prefix: string, field: string): number {
  return checked(buf.readBigUInt64LE(off), prefix, field);
}

export function u64be(buf: Buffer, off: number, prefix: string, field: string): number {
  return checked(buf.readBigUInt64BE(off), prefix, field);
}

function checked(v: bigint, prefix: string, field: string): number {
  if (v > MAX_SAFE) {
    throw formatError(prefix, 'FIELD_RANGE', `${field} = ${v} is larger than 2^53.`, undefined, { field, value: v.toString() });
  }
  return Number(v);
}

/** Throw `${prefix}_PAST_EOF` unless [offset, offset+length) lies inside the file. */
export function checkInFile(prefix: string, what: string, offset: number, length: number, fileSize: number): void {
  if (!(offset >= 0 && length >= 0 && offset + length <= fileSize)) {
    throw formatError(prefix, 'PAST_EOF', `${what} at offset ${offset} (+${length}) lies outside the file (${fileSize} bytes).`,
      'The image is truncated or its tables are damaged.', { what, offset, length, fileSize });
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}
