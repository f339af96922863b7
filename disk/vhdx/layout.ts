/**
 * VHDX constants and pure codecs (no I/O) for the structures of MS-VHDX §2.2 (file identifier,
 * headers, region tables), §2.5 (BAT) and §2.6 (metadata). All fields little-endian.
 */
import { guidFromString, guidToString } from '../format-kit/guid.js';
import { crc32cWithZeroField } from '../format-kit/crc32c.js';
import { formatError, u64le } from '../format-kit/fields.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const FILE_ID_SIG = Buffer.from('vhdxfile', 'ascii');
export const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
export const HEADER_SIZE = 4 * KiB;
export const REGION_OFFSETS = [192 * KiB, 256 * KiB] as const;
export const REGION_SIZE = 64 * KiB;
export const MAX_VIRTUAL_SIZE = 64 * 1024 * 1024 * MiB; // 64 TiB (§2.6.2.2)

export const SIG_HEAD = 0x64616568; // "head"
export const SIG_REGI = 0x69676572; // "regi"
export const SIG_META = Buffer.from('metadata', 'ascii');

export const REGION_BAT = '2dc27766-f623-4200-9d64-115e9bfd4a08';
export const REGION_METADATA = '8b7ca206-4790-4b9a-b8fe-575f050f886e';

export const META_FILE_PARAMETERS = 'caa16737-fa36-4d43-b3b6-33f0aa44e76b';
export const META_VIRTUAL_DISK_SIZE = '2fa54224-cd1b-4876-b211-5dbed83bf4b8';
export const META_PAGE83 = 'beca12ab-b2e6-4523-93ef-c309e000c746';
export const META_LOGICAL_SECTOR = '8141bf1d-a96f-4709-ba47-f233a8faab5f';
export const META_PHYSICAL_SECTOR = 'cda348c7-445d-4471-9cc9-e9885251c556';
export const META_PARENT_LOCATOR = 'a8d35f2d-b30b-454d-abf7-d3d84834ab0c';
export const PARENT_LOCATOR_VHDX = 'b04aefb7-d19e-4a81-b789-25b8e9445913';

export const META_FLAG_USER = 1;
export const META_FLAG_VIRTUAL_DISK = 2;
export const META_FLAG_REQUIRED = 4;

/** §2.5.1.1 payload states; UNMAPPED is 3 in v1.0 (5 in the v0.95 draft, read alike). */
export const PAYLOAD = { NOT_PRESENT: 0, UNDEFINED: 1, ZERO: 2, UNMAPPED: 3, UNMAPPED_V095: 5, FULLY_PRESENT: 6, PARTIALLY_PRESENT: 7 } as const;
export const SB_PRESENT = 6;

const E = 'VHDX';

export interface VhdxHeader {
  sequence: bigint;
  fileWriteGuid: Buffer;
  dataWriteGuid: Buffer;
  logGuid: Buffer;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

/** Parse a 4 KiB header; undefined when the signature, version or CRC-32C is wrong (§2.2.2). */
export function parseHeader(buf: Buffer): VhdxHeader | undefined {
  if (buf.length < HEADER_SIZE || buf.readUInt32LE(0) !== SIG_HEAD) return undefined;
  if (crc32cWithZeroField(buf.subarray(0, HEADER_SIZE), 4) !== buf.readUInt32LE(4)) return undefined;
  const version = buf.readUInt16LE(66);
  if (version !== 1) return undefined;
  return {
    sequence: buf.readBigUInt64LE(8),
    fileWriteGuid: Buffer.from(buf.subarray(16, 32)),
    dataWriteGuid: Buffer.from(buf.subarray(32, 48)),
    logGuid: Buffer.from(buf.subarray(48, 64)),
    logVersion: buf.readUInt16LE(64),
    version,
    logLength: buf.readUInt32LE(68),
    logOffset: u64le(buf, 72, E, 'header LogOffset'),
  };
}

export function serializeHeader(h: VhdxHeader): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.writeUInt32LE(SIG_HEAD, 0);
  b.writeBigUInt64LE(h.sequence, 8);
  h.fileWriteGuid.copy(b, 16);
  h.dataWriteGuid.copy(b, 32);
  h.logGuid.copy(b, 48);
  b.writeUInt16LE(h.logVersion, 64);
  b.writeUInt16LE(h.version, 66);
  b.writeUInt32LE(h.logLength, 68);
  b.writeBigUInt64LE(BigInt(h.logOffset), 72);
  b.writeUInt32LE(crc32cWithZeroField(b, 4), 4);
  return b;
}

export interface RegionEntry {
  guid: string;
  fileOffset: number;
  length: number;
  required: boolean;
}

/** Parse a 64 KiB region table; undefined when signature/CRC are wrong; throws on absurd counts. */
export function parseRegionTable(buf: Buffer): RegionEntry[] | undefined {
  if (buf.length < REGION_SIZE || buf.readUInt32LE(0) !== SIG_REGI) return undefined;
  if (crc32cWithZeroField(buf.subarray(0, REGION_SIZE), 4) !== buf.readUInt32LE(4)) return undefined;
  const count = buf.readUInt32LE(8);
  if (count > 2047) return undefined;
  const out: RegionEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = 16 + i * 32;
    out.push({
      guid: guidToString(buf, o),
      fileOffset: u64le(buf, o + 16, E, 'region FileOffset'),
      length: buf.readUInt32LE(o + 24),
      required: (buf.readUInt32LE(o + 28) & 1) === 1,
    });
  }
  return out;
}

export function serializeRegionTable(entries: RegionEntry[]): Buffer {
  const b = Buffer.alloc(REGION_SIZE);
  b.writeUInt32LE(SIG_REGI, 0);
  b.writeUInt32LE(entries.length, 8);
  entries.forEach((e, i) => {
    const o = 16 + i * 32;
    guidFromString(e.guid).copy(b, o);
    b.writeBigUInt64LE(BigInt(e.fileOffset), o + 16);
    b.writeUInt32LE(e.length, o + 24);
    b.writeUInt32LE(e.required ? 1 : 0, o + 28);
  });
  b.writeUInt32LE(crc32cWithZeroField(b, 4), 4);
  return b;
}

export interface MetadataEntry {
  itemId: string;
  offset: number;
  length: number;
  flags: number;
}

export function parseMetadataTable(buf: Buffer): MetadataEntry[] {
  if (!buf.subarray(0, 8).equals(SIG_META)) throw formatError(E, 'METADATA_INVALID', 'The VHDX metadata table has no "metadata" signature.');
  const count = buf.readUInt16LE(10);
  if (count > 2047) throw formatError(E, 'METADATA_INVALID', `The VHDX metadata table claims ${count} entries (max 2047).`);
  const out: MetadataEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = 32 + i * 32;
    out.push({ itemId: guidToString(buf, o), offset: buf.readUInt32LE(o + 16), length: buf.readUInt32LE(o + 20), flags: buf.readUInt32LE(o + 24) });
  }
  return out;
}

/** Build a 1 MiB metadata region: the table in the first 64 KiB, items packed after it (§2.6.1). */
export function serializeMetadataRegion(items: { itemId: string; flags: number; data: Buffer }[], regionSize = MiB): Buffer {
  const b = Buffer.alloc(regionSize);
  SIG_META.copy(b, 0);
  b.writeUInt16LE(items.length, 10);
  let at = 64 * KiB;
  items.forEach((it, i) => {
    const o = 32 + i * 32;
    guidFromString(it.itemId).copy(b, o);
    b.writeUInt32LE(it.data.length ? at : 0, o + 16);
    b.writeUInt32LE(it.data.length, o + 20);
    b.writeUInt32LE(it.flags, o + 24);
    it.data.copy(b, at);
    at += Math.ceil(it.data.length / 8) * 8;
  });
  return b;
}

/** Parent locator key/value pairs (UTF-16LE), §2.6.2.6. */
export function parseParentLocator(buf: Buffer): { type: string; entries: Map<string, string> } {
  if (buf.length < 20) throw formatError(E, 'PARENT_LOCATOR_INVALID', 'The VHDX parent locator is too short.');
  const type = guidToString(buf, 0);
  const count = buf.readUInt16LE(18);
  if (20 + count * 12 > buf.length) throw formatError(E, 'PARENT_LOCATOR_INVALID', `The VHDX parent locator claims ${count} entries but holds ${buf.length} bytes.`);
  const entries = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const o = 20 + i * 12;
    const ko = buf.readUInt32LE(o), vo = buf.readUInt32LE(o + 4), kl = buf.readUInt16LE(o + 8), vl = buf.readUInt16LE(o + 10);
    if (ko + kl > buf.length || vo + vl > buf.length) throw formatError(E, 'PARENT_LOCATOR_INVALID', 'A VHDX parent locator entry points outside the item.');
    entries.set(buf.toString('utf16le', ko, ko + kl), buf.toString('utf16le', vo, vo + vl));
  }
  return { type, entries };
}

export function serializeParentLocator(entries: [string, string][]): Buffer {
  const strings = entries.map(([k, v]) => [Buffer.from(k, 'utf16le'), Buffer.from(v, 'utf16le')] as const);
  const head = 20 + entries.length * 12;
  const total = head + strings.reduce((s, [k, v]) => s + k.length + v.length, 0);
  const b = Buffer.alloc(total);
  guidFromString(PARENT_LOCATOR_VHDX).copy(b, 0);
  b.writeUInt16LE(entries.length, 18);
  let at = head;
  strings.forEach(([k, v], i) => {
    const o = 20 + i * 12;
    b.writeUInt32LE(at, o);
    k.copy(b, at);
    at += k.length;
    b.writeUInt32LE(at, o + 4);
    v.copy(b, at);
    at += v.length;
    b.writeUInt16LE(k.length, o + 8);
    b.writeUInt16LE(v.length, o + 10);
  });
  return b;
}

/** BAT geometry (§2.5): chunk ratio, payload block count, entry count. */
export interface BatGeometry {
  blockSize: number;
  logicalSectorSize: number;
  chunkRatio: number;
  dataBlocks: number;
  entries: number;
}

export function batGeometry(virtualSize: number, blockSize: number, logicalSectorSize: number, differencing: boolean): BatGeometry {
  const chunkRatio = (2 ** 23 * logicalSectorSize) / blockSize;
  const dataBlocks = Math.ceil(virtualSize / blockSize);
  const sbBlocks = Math.ceil(dataBlocks / chunkRatio);
  const entries = differencing ? sbBlocks * (chunkRatio + 1) : dataBlocks === 0 ? 0 : dataBlocks + Math.floor((dataBlocks - 1) / chunkRatio);
  return { blockSize, logicalSectorSize, chunkRatio, dataBlocks, entries };
}

export const payloadIndex = (g: BatGeometry, blk: number) => blk + Math.floor(blk / g.chunkRatio);
export const bitmapIndex = (g: BatGeometry, chunk: number) => chunk * (g.chunkRatio + 1) + g.chunkRatio;

/** QEMU's default block sizes (block/vhdx.c vhdx_create); Hyper-V uses 32 MiB. */
export function defaultBlockSize(virtualSize: number): number {
  const GiB = 1024 * MiB;
  if (virtualSize > 32 * 1024 * GiB) return 64 * MiB;
  if (virtualSize > 100 * GiB) return 32 * MiB;
  if (virtualSize > GiB) return 16 * MiB;
  return 8 * MiB;
}

export function batEntry(state: number, fileOffset: number): bigint {
  return (BigInt(fileOffset / MiB) << 20n) | BigInt(state);
}
