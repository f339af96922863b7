/** GUIDs in Microsoft binary form (Data1..3 little-endian, Data4 bytes as is), as VHDX stores them. */
import { randomBytes } from 'node:crypto';

export function guidToString(b: Buffer, off = 0): string {
  const h = (s: number, e: number) => b.subarray(off + s, off + e).toString('hex');
  const le = (s: number, e: number) => Buffer.from(b.subarray(off + s, off + e)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${h(8, 10)}-${h(10, 16)}`;
}

export function guidFromString(s: string): Buffer {
  const hex = s.replace(/[{}-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a GUID: ${s}`);
  const raw = Buffer.from(hex, 'hex');
  const out = Buffer.alloc(16);
  raw.subarray(0, 4).reverse().copy(out, 0);
  raw.subarray(4, 6).reverse().copy(out, 4);
  raw.subarray(6, 8).reverse().copy(out, 6);
  raw.subarray(8, 16).copy(out, 8);
  return out;
}

export function randomGuid(): Buffer {
  const b = randomBytes(16);
  b[7] = (b[7] & 0x0f) | 0x40; // version 4 (Data3 is little-endian: its high byte is byte 7)
  b[8] = (b[8] & 0x3f) | 0x80;
  return b;
}

export function isZeroGuid(b: Buffer, off = 0): boolean {
  for (let i = 0; i < 16; i++) if (b[off + i] !== 0) return false;
  return true;
}
