/**
 * The 4096-byte base block of a primary hive file, and the first 512 bytes of it kept in
 * transaction logs (regf spec, "Base block"). Pure codec over a Buffer.
 */
import { hiveError } from './errors.js';

export const BASE_BLOCK_SIZE = 4096;
export const FILE_TYPE_PRIMARY = 0;
export const FILE_TYPE_LOG_OLD = 1;
export const FILE_TYPE_LOG_OLD2 = 2;
export const FILE_TYPE_LOG_NEW = 6;

export interface BaseBlock {
  seq1: number;
  seq2: number;
  /** FILETIME as bigint (100 ns since 1601). */
  lastWritten: bigint;
  major: number;
  minor: number;
  fileType: number;
  format: number;
  rootOffset: number;
  binsSize: number;
  clustering: number;
  checksumOk: boolean;
}

/** XOR-32 of the dwords 0x000–0x1FB, with 0xFFFFFFFF → 0xFFFFFFFE and 0 → 1 as Windows does. */
export function baseBlockChecksum(b: Buffer, at = 0): number {
  let c = 0;
  for (let i = 0; i < 508; i += 4) c ^= b.readUInt32LE(at + i);
  c >>>= 0;
  if (c === 0xffffffff) return 0xfffffffe;
  if (c === 0) return 1;
  return c;
}

export function parseBaseBlock(b: Buffer, at = 0): BaseBlock {
  if (b.length < at + 512) throw hiveError('HIVE_TRUNCATED', `The file is ${b.length - at} bytes, too short for a regf base block.`, { size: b.length - at });
  if (b.toString('latin1', at, at + 4) !== 'regf') throw hiveError('HIVE_BAD_SIGNATURE', 'Not a registry hive: no "regf" signature.', { found: b.subarray(at, at + 4).toString('hex') });
  const stored = b.readUInt32LE(at + 508);
  return {
    seq1: b.readUInt32LE(at + 4),
    seq2: b.readUInt32LE(at + 8),
    lastWritten: b.readBigUInt64LE(at + 12),
    major: b.readUInt32LE(at + 20),
    minor: b.readUInt32LE(at + 24),
    fileType: b.readUInt32LE(at + 28),
    format: b.readUInt32LE(at + 32),
    rootOffset: b.readUInt32LE(at + 36),
    binsSize: b.readUInt32LE(at + 40),
    clustering: b.readUInt32LE(at + 44),
    checksumOk: stored === baseBlockChecksum(b, at),
  };
}

/** Check what a reader needs from a (primary) base block; throws a typed error. */
export function validateBaseBlock(bb: BaseBlock, fileSize: number): void {
  if (bb.major !== 1 || bb.minor < 2 || bb.minor > 6) {
    throw hiveError('HIVE_UNSUPPORTED_VERSION', `Hive version ${bb.major}.${bb.minor} is not supported (1.2–1.6).`, { major: bb.major, minor: bb.minor });
  }
  if (bb.format !== 1) throw hiveError('HIVE_UNSUPPORTED_FORMAT', `Hive file format ${bb.format} is not "direct memory load" (1).`, { format: bb.format });
  if (bb.binsSize === 0 || bb.binsSize % 4096 !== 0) throw hiveError('HIVE_BAD_BASE_BLOCK', `Hive bins size ${bb.binsSize} is not a positive multiple of 4096.`, { binsSize: bb.binsSize });
  if (BASE_BLOCK_SIZE + bb.binsSize > fileSize) {
    throw hiveError('HIVE_TRUNCATED', `The hive declares ${bb.binsSize} bytes of hive bins but the file has ${Math.max(0, fileSize - BASE_BLOCK_SIZE)}.`, { binsSize: bb.binsSize, fileSize });
  }
  if (bb.rootOffset >= bb.binsSize) throw hiveError('HIVE_BAD_OFFSET', `Root cell offset 0x${bb.rootOffset.toString(16)} is outside the hive bins.`, { rootOffset: bb.rootOffset });
}

/** FILETIME (bigint) of a Date. */
export function toFiletime(d: Date): bigint {
  return (BigInt(d.getTime()) + 11644473600000n) * 10000n;
}

export function fromFiletime(ft: bigint): Date {
  const ms = Number(ft / 10000n) - 11644473600000;
  return new Date(Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? ms : 0);
}

/**
 * Make a base block clean after our write: both sequence numbers = `seq`, a fresh timestamp,
 * the bins size, file type primary, and the checksum.
 */
export function writeCleanBaseBlock(b: Buffer, seq: number, binsSize: number, when: Date): void {
  b.writeUInt32LE(seq >>> 0, 4);
  b.writeUInt32LE(seq >>> 0, 8);
  b.writeBigUInt64LE(toFiletime(when), 12);
  b.writeUInt32LE(FILE_TYPE_PRIMARY, 28);
  b.writeUInt32LE(binsSize, 40);
  b.writeUInt32LE(baseBlockChecksum(b), 508);
}
