/**
 * The dynamic disk header ("Dynamic Disk Header Format"): 1024 bytes, big-endian, cookie
 * "cxsparse", at footer.data_offset. Holds the BAT location, the block size and, for
 * differencing disks, the parent's UUID, timestamp, name (UTF-16BE) and 8 parent locators.
 */
import { CeError } from '../../core/errors.js';
import { checkedU64 } from '../fields.js';
import { ALL_ONES, vhdChecksum } from './footer.js';

export const HEADER_SIZE = 1024;
export const HEADER_COOKIE = 'cxsparse';
export const LOCATOR_COUNT = 8;

export interface ParentLocator {
  /** 'W2ru' relative Windows path, 'W2ku' absolute, 'Wi2r'/'Wi2k' deprecated, 'Mac ', 'MacX'. */
  platformCode: string;
  /** Bytes reserved for the locator data (the spec says sectors; Hyper-V writes bytes: we read both). */
  dataSpace: number;
  dataLength: number;
  dataOffset: number;
}

export interface DynamicHeader {
  tableOffset: number;
  headerVersion: number;
  maxTableEntries: number;
  blockSize: number;
  checksumValid: boolean;
  /** The spec's "next structure" offset; must be all ones (vpc.c: MS tools expect all 64 bits set). */
  dataOffsetAllOnes: boolean;
  parentUuid: Buffer;
  parentTimestamp: number;
  parentName: string;
  locators: ParentLocator[];
}

export function parseDynamicHeader(buf: Buffer, file: string): DynamicHeader {
  if (buf.length < HEADER_SIZE || buf.toString('latin1', 0, 8) !== HEADER_COOKIE) {
    throw new CeError('VHD_HEADER_MISSING', `${file}: no dynamic disk header (cookie "cxsparse") where the footer points.`, {
      hint: 'The VHD is damaged: its footer says dynamic but the header is missing.',
    });
  }
  const locators: ParentLocator[] = [];
  for (let i = 0; i < LOCATOR_COUNT; i++) {
    const o = 576 + i * 24;
    const code = buf.readUInt32BE(o);
    if (code === 0) continue;
    locators.push({
      platformCode: buf.toString('latin1', o, o + 4),
      dataSpace: buf.readUInt32BE(o + 4),
      dataLength: buf.readUInt32BE(o + 8),
      dataOffset: checkedU64(buf.readBigUInt64BE(o + 16), `header.locator[${i}].offset`, file),
    });
  }
  return {
    dataOffsetAllOnes: buf.readBigUInt64BE(8) === ALL_ONES,
    tableOffset: checkedU64(buf.readBigUInt64BE(16), 'header.table_offset', file),
    headerVersion: buf.readUInt32BE(24),
    maxTableEntries: buf.readUInt32BE(28),
    blockSize: buf.readUInt32BE(32),
    checksumValid: vhdChecksum(buf.subarray(0, HEADER_SIZE), 36) === buf.readUInt32BE(36),
    parentUuid: Buffer.from(buf.subarray(40, 56)),
    parentTimestamp: buf.readUInt32BE(56),
    parentName: decodeUtf16be(buf.subarray(64, 576)),
    locators,
  };
}

export interface HeaderInit {
  tableOffset: number;
  maxTableEntries: number;
  blockSize: number;
  parentUuid?: Buffer;
  parentTimestamp?: number;
  parentName?: string;
  locators?: ParentLocator[];
}

export function serializeDynamicHeader(h: HeaderInit): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.write(HEADER_COOKIE, 0, 'latin1');
  b.writeBigUInt64BE(ALL_ONES, 8);
  b.writeBigUInt64BE(BigInt(h.tableOffset), 16);
  b.writeUInt32BE(0x00010000, 24);
  b.writeUInt32BE(h.maxTableEntries, 28);
  b.writeUInt32BE(h.blockSize, 32);
  if (h.parentUuid) h.parentUuid.copy(b, 40, 0, 16);
  b.writeUInt32BE((h.parentTimestamp ?? 0) >>> 0, 56);
  if (h.parentName) encodeUtf16be(h.parentName).copy(b, 64, 0, 512);
  (h.locators ?? []).slice(0, LOCATOR_COUNT).forEach((l, i) => {
    const o = 576 + i * 24;
    b.write(l.platformCode, o, 'latin1');
    b.writeUInt32BE(l.dataSpace, o + 4);
    b.writeUInt32BE(l.dataLength, o + 8);
    b.writeBigUInt64BE(BigInt(l.dataOffset), o + 16);
  });
  b.writeUInt32BE(vhdChecksum(b, 36), 36);
  return b;
}

export function decodeUtf16be(buf: Buffer): string {
  const le = Buffer.from(buf.subarray(0, buf.length & ~1));
  le.swap16();
  const s = le.toString('utf16le');
  const nul = s.indexOf('\0');
  return nul >= 0 ? s.slice(0, nul) : s;
}

export function encodeUtf16be(s: string): Buffer {
  const b = Buffer.from(s, 'utf16le');
  return b.swap16();
}

/** Bytes of the sector bitmap in front of each block: 1 bit per 512-byte sector, rounded up to a sector. */
export function bitmapSize(blockSize: number): number {
  return Math.ceil(blockSize / 512 / 8 / 512) * 512;
}
