/**
 * VMDK codecs (no I/O): the 512-byte sparse extent header, stream markers and the text descriptor
 * (VMware "Virtual Disk Format 5.0"; quirks from QEMU block/vmdk.c and open-vmdk, disk-formats §3.3).
 */
import { randomBytes } from 'node:crypto';
import { formatError, isPowerOfTwo, u64le } from '../format-kit/fields.js';

export const SECTOR = 512;
export const MAGIC = 0x564d444b; // "KDMV" in the file
export const MAGIC_LOWER = Buffer.from('kdmv', 'ascii'); // open-vmdk: invalid until the end (§3.3 writer safety)
export const GD_AT_END = 0xffffffffffffffffn;
export const FLAG_NL_DETECT = 1;
export const FLAG_RGD = 2;
export const FLAG_ZEROED_GTE = 4;
export const FLAG_COMPRESSED = 1 << 16;
export const FLAG_MARKERS = 1 << 17;
export const MARKER = { EOS: 0, GT: 1, GD: 2, FOOTER: 3 } as const;
/** GTE value 1 = zeroed grain (v2+; open-vmdk treats sect == 1 as zero). */
export const GTE_ZERO = 1;

const E = 'VMDK';

export interface SparseHeader {
  version: number;
  flags: number;
  capacity: number; // sectors
  grainSize: number; // sectors
  descriptorOffset: number;
  descriptorSize: number;
  numGTEsPerGT: number;
  rgdOffset: number;
  gdOffset: number; // sectors, or -1 for GD_AT_END
  overHead: number;
  compressAlgorithm: number;
}

export function isSparseMagic(b: Buffer): boolean {
  return b.length >= 4 && b.readUInt32LE(0) === MAGIC;
}

export function parseSparseHeader(b: Buffer): SparseHeader {
  if (!isSparseMagic(b)) throw formatError(E, 'BAD_MAGIC', 'No VMDK sparse header ("KDMV") where one was expected.');
  const gd = b.readBigUInt64LE(56);
  const h: SparseHeader = {
    version: b.readUInt32LE(4),
    flags: b.readUInt32LE(8),
    capacity: u64le(b, 12, E, 'capacity'),
    grainSize: u64le(b, 20, E, 'grainSize'),
    descriptorOffset: u64le(b, 28, E, 'descriptorOffset'),
    descriptorSize: u64le(b, 36, E, 'descriptorSize'),
    numGTEsPerGT: b.readUInt32LE(44),
    rgdOffset: u64le(b, 48, E, 'rgdOffset'),
    gdOffset: gd === GD_AT_END ? -1 : u64le(b, 56, E, 'gdOffset'),
    overHead: u64le(b, 64, E, 'overHead'),
    compressAlgorithm: b.readUInt16LE(77),
  };
  if (h.version < 1 || h.version > 3) throw formatError(E, 'VERSION_UNSUPPORTED', `VMDK sparse version ${h.version} is not 1, 2 or 3.`);
  if (!isPowerOfTwo(h.grainSize) || h.grainSize < 1 || h.grainSize > 2048) throw formatError(E, 'GRAIN_SIZE_INVALID', `VMDK grain size ${h.grainSize} sectors is not a power of two up to 1 MiB.`);
  if (!isPowerOfTwo(h.numGTEsPerGT) || h.numGTEsPerGT > 65536) throw formatError(E, 'HEADER_INVALID', `VMDK numGTEsPerGT ${h.numGTEsPerGT} is invalid.`);
  if (h.flags & FLAG_COMPRESSED && h.compressAlgorithm !== 1) throw formatError(E, 'COMPRESSION_UNSUPPORTED', `VMDK compression algorithm ${h.compressAlgorithm} is not deflate (1).`);
  if (h.capacity > 2 ** 53 / SECTOR) throw formatError(E, 'FIELD_RANGE', `VMDK capacity ${h.capacity} sectors is too large.`);
  return h;
}

export function serializeSparseHeader(h: SparseHeader, realMagic = true): Buffer {
  const b = Buffer.alloc(SECTOR);
  if (realMagic) b.writeUInt32LE(MAGIC, 0);
  else MAGIC_LOWER.copy(b, 0);
  b.writeUInt32LE(h.version, 4);
  b.writeUInt32LE(h.flags, 8);
  b.writeBigUInt64LE(BigInt(h.capacity), 12);
  b.writeBigUInt64LE(BigInt(h.grainSize), 20);
  b.writeBigUInt64LE(BigInt(h.descriptorOffset), 28);
  b.writeBigUInt64LE(BigInt(h.descriptorSize), 36);
  b.writeUInt32LE(h.numGTEsPerGT, 44);
  b.writeBigUInt64LE(BigInt(h.rgdOffset), 48);
  b.writeBigUInt64LE(h.gdOffset < 0 ? GD_AT_END : BigInt(h.gdOffset), 56);
  b.writeBigUInt64LE(BigInt(h.overHead), 64);
  b[72] = 0; // uncleanShutdown
  // §3.3: newline-detection bytes at 73.. ("\n", " ", "\r", "\n") catch FTP text-mode damage.
  b[73] = 0x0a;
  b[74] = 0x20;
  b[75] = 0x0d;
  b[76] = 0x0a;
  b.writeUInt16LE(h.compressAlgorithm, 77);
  return b;
}

/** A metadata marker sector: numSectors u64, size u32 = 0, type u32 (§3.3 streamOptimized framing). */
export function marker(type: number, numSectors: number): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.writeBigUInt64LE(BigInt(numSectors), 0);
  b.writeUInt32LE(type, 12);
  return b;
}

export interface DescriptorExtent {
  access: string;
  sectors: number;
  type: string; // SPARSE | FLAT | ZERO | VMFS
  file?: string;
  offset: number;
}

export interface Descriptor {
  createType: string;
  cid?: string;
  parentCID?: string;
  parentFileNameHint?: string;
  extents: DescriptorExtent[];
  ddb: Record<string, string>;
}

export function parseDescriptor(text: string): Descriptor {
  const d: Descriptor = { createType: '', extents: [], ddb: {} };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\0.*$/, '').trim();
    if (!line || line.startsWith('#')) continue;
    const ext = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?/.exec(line);
    if (ext) {
      d.extents.push({ access: ext[1], sectors: Number(ext[2]), type: ext[3].toUpperCase(), file: ext[4], offset: Number(ext[5] ?? 0) });
      continue;
    }
    const kv = /^([\w.]+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (!kv) continue;
    const [, k, v] = kv;
    if (k === 'createType') d.createType = v;
    else if (k === 'CID') d.cid = v;
    else if (k === 'parentCID') d.parentCID = v;
    else if (k === 'parentFileNameHint') d.parentFileNameHint = v;
    else if (k.startsWith('ddb.')) d.ddb[k] = v;
  }
  for (const e of d.extents) {
    if (!Number.isSafeInteger(e.sectors) || !Number.isSafeInteger(e.offset) || e.sectors > 2 ** 53 / SECTOR) {
      throw formatError(E, 'DESCRIPTOR_INVALID', `A VMDK extent line has an out-of-range size or offset (${e.sectors}, ${e.offset}).`);
    }
  }
  return d;
}

/** A random CID, never 0xFFFFFFFF or 0xFFFFFFFE (open-vmdk: those mean "no parent"/"invalid"). */
export function randomCid(): string {
  for (;;) {
    const v = randomBytes(4).readUInt32LE(0);
    if (v < 0xfffffffe) return v.toString(16).padStart(8, '0');
  }
}

/**
 * The descriptor QEMU, open-vmdk and XO write (§3.3): version=1, UTF-8, random CID, no parent,
 * one extent, DDB with geometry (255/63 for SCSI adapters, QEMU uses 16 heads for IDE).
 */
export function buildDescriptor(o: { createType: string; extentLine: string; sectors: number; adapterType?: string }): string {
  const adapter = o.adapterType ?? 'lsilogic'; // open-vmdk's default; ide|buslogic|lsilogic|legacyESX
  const heads = adapter === 'ide' ? 16 : 255;
  const cylinders = Math.max(1, Math.min(65535, Math.floor(o.sectors / (heads * 63))));
  return [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    `CID=${randomCid()}`,
    'parentCID=ffffffff',
    `createType="${o.createType}"`,
    '',
    '# Extent description',
    o.extentLine,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"', // obsolete (ESX 3.x only), what QEMU writes; ESXi ignores it
    `ddb.geometry.cylinders = "${cylinders}"`,
    `ddb.geometry.heads = "${heads}"`,
    'ddb.geometry.sectors = "63"',
    `ddb.adapterType = "${adapter}"`,
    'ddb.toolsVersion = "2147483647"', // QEMU and open-vmdk: "tools not installed, but managed"
    `ddb.longContentID = "${randomBytes(16).toString('hex')}"`,
    '',
  ].join('\n');
}

export function isDescriptorText(head: Buffer): boolean {
  const s = head.subarray(0, Math.min(head.length, 1024)).toString('latin1');
  return /^\s*#\s*Disk DescriptorFile/i.test(s) || /^\s*version\s*=\s*1[\s\S]*createType\s*=/.test(s);
}
