/**
 * Encode and decode registry value data by type (regf spec, "Data types"). Decoding never
 * throws: data whose size does not fit its type is returned as the raw Buffer.
 */
import { REG, type RegData } from './types.js';
import { hiveError } from './errors.js';

export const TYPE_NAMES: Record<number, string> = {
  0: 'REG_NONE', 1: 'REG_SZ', 2: 'REG_EXPAND_SZ', 3: 'REG_BINARY', 4: 'REG_DWORD', 5: 'REG_DWORD_BIG_ENDIAN',
  6: 'REG_LINK', 7: 'REG_MULTI_SZ', 8: 'REG_RESOURCE_LIST', 9: 'REG_FULL_RESOURCE_DESCRIPTOR',
  10: 'REG_RESOURCE_REQUIREMENTS_LIST', 11: 'REG_QWORD',
};

/** 'REG_DWORD', 'DWORD', '4', '0x4' → 4. */
export function parseTypeName(s: string): number {
  const t = s.trim().toUpperCase();
  if (/^(0X[0-9A-F]+|\d+)$/.test(t)) return Number(t) >>> 0;
  const name = t.startsWith('REG_') ? t : `REG_${t}`;
  const found = Object.entries(TYPE_NAMES).find(([, n]) => n === name);
  if (!found) throw hiveError('HIVE_BAD_TYPE', `Unknown registry value type ${s}.`, { type: s }, `Use one of ${Object.values(TYPE_NAMES).join(', ')} or a number.`);
  return Number(found[0]);
}

export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `0x${t.toString(16)}`;
}

/** UTF-16LE up to the first NUL code unit (Windows often stores junk after it). */
export function decodeUtf16z(raw: Buffer): string {
  const n = raw.length & ~1;
  let end = n;
  for (let i = 0; i < n; i += 2) {
    if (raw[i] === 0 && raw[i + 1] === 0) {
      end = i;
      break;
    }
  }
  return raw.toString('utf16le', 0, end);
}

export function decodeMulti(raw: Buffer): string[] {
  const s = raw.toString('utf16le', 0, raw.length & ~1);
  const parts = s.split('\0');
  // the list ends at the first empty string (the double NUL)
  const out: string[] = [];
  for (const p of parts) {
    if (p === '') break;
    out.push(p);
  }
  return out;
}

export function decodeValue(type: number, raw: Buffer): RegData {
  switch (type) {
    case REG.SZ:
    case REG.EXPAND_SZ:
    case REG.LINK:
      return decodeUtf16z(raw);
    case REG.MULTI_SZ:
      return decodeMulti(raw);
    case REG.DWORD:
      return raw.length === 4 ? raw.readUInt32LE(0) : raw;
    case REG.DWORD_BIG_ENDIAN:
      return raw.length === 4 ? raw.readUInt32BE(0) : raw;
    case REG.QWORD:
      return raw.length === 8 ? raw.readBigUInt64LE(0) : raw;
    default:
      return raw;
  }
}

function bad(type: number, data: unknown): never {
  throw hiveError('HIVE_BAD_DATA', `Data of JS type ${Array.isArray(data) ? 'array' : typeof data} does not fit ${typeName(type)}.`, { type: typeName(type) }, 'Strings for SZ/EXPAND_SZ/LINK, string[] for MULTI_SZ, numbers for DWORD, bigint or number for QWORD, Buffer for anything.');
}

/** Encode data for a type. A Buffer is always stored as is. */
export function encodeValue(type: number, data: RegData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  switch (type) {
    case REG.SZ:
    case REG.EXPAND_SZ:
      if (typeof data !== 'string') bad(type, data);
      return Buffer.from(data + '\0', 'utf16le');
    case REG.LINK:
      if (typeof data !== 'string') bad(type, data);
      return Buffer.from(data, 'utf16le');
    case REG.MULTI_SZ: {
      const list = typeof data === 'string' ? [data] : data;
      if (!Array.isArray(list)) bad(type, data);
      if (list.some((s) => s === '' || s.includes('\0'))) {
        throw hiveError('HIVE_BAD_DATA', 'REG_MULTI_SZ strings must be non-empty and contain no NUL.', {});
      }
      return Buffer.from(list.map((s) => s + '\0').join('') + '\0', 'utf16le');
    }
    case REG.DWORD:
    case REG.DWORD_BIG_ENDIAN: {
      const n = typeof data === 'bigint' ? Number(data) : data;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) bad(type, data);
      const b = Buffer.alloc(4);
      if (type === REG.DWORD) b.writeUInt32LE(n >>> 0);
      else b.writeUInt32BE(n >>> 0);
      return b;
    }
    case REG.QWORD: {
      if (typeof data !== 'bigint' && !(typeof data === 'number' && Number.isSafeInteger(data))) bad(type, data);
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(data)));
      return b;
    }
    default:
      if (typeof data === 'string') return Buffer.from(data, 'utf16le');
      bad(type, data);
  }
}

/** JSON-friendly decoded form for export: strings, string[], numbers, bigint as string, else hex. */
export function jsonData(type: number, raw: Buffer): string | string[] | number {
  const d = decodeValue(type, raw);
  if (typeof d === 'bigint') return d.toString();
  if (Buffer.isBuffer(d)) return d.toString('hex');
  return d;
}
