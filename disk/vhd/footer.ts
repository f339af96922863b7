/**
 * The VHD footer (Virtual Hard Disk Image Format Specification, "Hard Disk Footer Format"):
 * 512 bytes, big-endian, at the end of every VHD and, for dynamic/differencing disks, copied at
 * offset 0. Pure codec: no I/O. The size-source table follows QEMU block/vpc.c (disk-formats.md §3.1).
 */
import { CeError } from '../../core/errors.js';
import { checkedU64 } from '../fields.js';

export const FOOTER_SIZE = 512;
export const FOOTER_COOKIE = 'conectix';
/** Seconds between 1970-01-01 and 2000-01-01 UTC: VHD timestamps count from 2000. */
export const VHD_EPOCH = 946684800;
/** vpc.c VHD_MAX_SECTORS: 65535 × 255 × 255 sectors ≈ 2040 GiB, the largest dynamic VHD. */
export const VHD_MAX_SECTORS = 65535 * 255 * 255;
export const VHD_MAX_SIZE = VHD_MAX_SECTORS * 512;
/** The largest CHS geometry; an image with it is always sized by current_size. */
export const MAX_CHS = { cylinders: 65535, heads: 16, sectorsPerTrack: 255 } as const;
export const ALL_ONES = 0xffffffffffffffffn;

export const DISK_TYPE = { fixed: 2, dynamic: 3, differencing: 4 } as const;
export type VhdType = keyof typeof DISK_TYPE;

export interface Geometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

export interface VhdFooter {
  features: number;
  version: number;
  /** Offset of the dynamic header; null for fixed disks (all ones on disk). */
  dataOffset: number | null;
  timestamp: number;
  creatorApp: string;
  creatorVersion: number;
  creatorHostOs: number;
  originalSize: number;
  currentSize: number;
  geometry: Geometry;
  type: VhdType;
  checksum: number;
  checksumValid: boolean;
  uuid: Buffer;
  savedState: number;
}

/** One's complement of the byte sum, with the 4-byte checksum field at `at` counted as zero. */
export function vhdChecksum(buf: Buffer, at: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) if (i < at || i >= at + 4) sum += buf[i]!;
  return ~sum >>> 0;
}

export function hasFooterCookie(buf: Buffer, off = 0): boolean {
  return buf.length >= off + 8 && buf.toString('latin1', off, off + 8) === FOOTER_COOKIE;
}

/** Parse a footer; throws VHD_FOOTER_* on a bad cookie or type, reports (not throws) a bad checksum. */
export function parseFooter(buf: Buffer, file: string): VhdFooter {
  if (buf.length < FOOTER_SIZE || !hasFooterCookie(buf)) {
    throw new CeError('VHD_FOOTER_MISSING', `${file}: no VHD footer (cookie "conectix") found.`, { hint: 'The file is not a VHD, or it is truncated.' });
  }
  const typeCode = buf.readUInt32BE(60);
  const type = (Object.keys(DISK_TYPE) as VhdType[]).find((k) => DISK_TYPE[k] === typeCode);
  if (!type) {
    throw new CeError('VHD_DISK_TYPE', `${file}: unsupported VHD disk type ${typeCode}.`, { hint: 'Only fixed (2), dynamic (3) and differencing (4) VHDs exist.', details: { typeCode } });
  }
  const rawDataOffset = buf.readBigUInt64BE(16);
  const checksum = buf.readUInt32BE(64);
  return {
    features: buf.readUInt32BE(8),
    version: buf.readUInt32BE(12),
    dataOffset: rawDataOffset === ALL_ONES || (type === 'fixed' && rawDataOffset === 0xffffffffn) ? null : checkedU64(rawDataOffset, 'footer.data_offset', file),
    timestamp: buf.readUInt32BE(24),
    creatorApp: buf.toString('latin1', 28, 32),
    creatorVersion: buf.readUInt32BE(32),
    creatorHostOs: buf.readUInt32BE(36),
    originalSize: checkedU64(buf.readBigUInt64BE(40), 'footer.original_size', file),
    currentSize: checkedU64(buf.readBigUInt64BE(48), 'footer.current_size', file),
    geometry: { cylinders: buf.readUInt16BE(56), heads: buf.readUInt8(58), sectorsPerTrack: buf.readUInt8(59) },
    type,
    checksum,
    checksumValid: vhdChecksum(buf.subarray(0, FOOTER_SIZE), 64) === checksum,
    uuid: Buffer.from(buf.subarray(68, 84)),
    savedState: buf.readUInt8(84),
  };
}

export function serializeFooter(f: Omit<VhdFooter, 'checksum' | 'checksumValid'>): Buffer {
  const b = Buffer.alloc(FOOTER_SIZE);
  b.write(FOOTER_COOKIE, 0, 'latin1');
  b.writeUInt32BE(f.features, 8);
  b.writeUInt32BE(f.version, 12);
  // Fixed disks: data_offset all ones (the spec says 0xFFFFFFFF; QEMU and MS tools use all 64 bits).
  b.writeBigUInt64BE(f.dataOffset === null ? ALL_ONES : BigInt(f.dataOffset), 16);
  b.writeUInt32BE(f.timestamp >>> 0, 24);
  b.write(f.creatorApp.padEnd(4, '\0').slice(0, 4), 28, 'latin1');
  b.writeUInt32BE(f.creatorVersion, 32);
  b.writeUInt32BE(f.creatorHostOs, 36);
  b.writeBigUInt64BE(BigInt(f.originalSize), 40);
  b.writeBigUInt64BE(BigInt(f.currentSize), 48);
  b.writeUInt16BE(f.geometry.cylinders, 56);
  b.writeUInt8(f.geometry.heads, 58);
  b.writeUInt8(f.geometry.sectorsPerTrack, 59);
  b.writeUInt32BE(DISK_TYPE[f.type], 60);
  f.uuid.copy(b, 68, 0, 16);
  b.writeUInt8(f.savedState, 84);
  b.writeUInt32BE(vhdChecksum(b, 64), 64);
  return b;
}

/**
 * CHS geometry for a size, from the VHD specification's appendix ("CHS Calculation"). The
 * geometry is capped at 65535×16×255: past that the footer's current_size alone says the size.
 */
export function chsFor(size: number): Geometry {
  let totalSectors = Math.floor(size / 512);
  if (totalSectors > 65535 * 16 * 255) totalSectors = 65535 * 16 * 255;
  let spt: number;
  let heads: number;
  let cth: number;
  if (totalSectors >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(totalSectors / spt);
  } else {
    spt = 17;
    cth = Math.floor(totalSectors / spt);
    heads = Math.floor((cth + 1023) / 1024);
    if (heads < 4) heads = 4;
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
  }
  return { cylinders: Math.min(65535, Math.floor(cth / heads)), heads, sectorsPerTrack: spt };
}

export const chsBytes = (g: Geometry): number => g.cylinders * g.heads * g.sectorsPerTrack * 512;

const isMaxChs = (g: Geometry): boolean => g.cylinders === 65535 && g.heads === 16 && g.sectorsPerTrack === 255;

/**
 * Which field gives the virtual size (QEMU vpc.c, since "vpc: Read images exported from Azure
 * correctly", Feb 2025):
 *   'vpc ' Virtual PC, 'qemu' old QEMU      → CHS geometry
 *   everything else ('qem2', 'win ' Hyper-V, 'd2v ' Disk2vhd, 'tap\0' XenServer, 'CTXS'
 *   XenConverter, 'wa\0\0' Azure, 'xo  ', unknown) → current_size
 *   max CHS geometry (65535×16×255)          → current_size, whatever the creator.
 * QEMU ≤ 9 used CHS for unknown creators too (so it truncates Azure and XO images); we do not.
 */
export function sizeSource(f: Pick<VhdFooter, 'creatorApp' | 'geometry'>): 'chs' | 'current_size' {
  if (isMaxChs(f.geometry)) return 'current_size';
  return f.creatorApp === 'vpc ' || f.creatorApp === 'qemu' ? 'chs' : 'current_size';
}

export function virtualSizeOf(f: VhdFooter): number {
  return sizeSource(f) === 'chs' ? chsBytes(f.geometry) : f.currentSize;
}

export function vhdTimestamp(date = new Date()): number {
  return Math.max(0, Math.floor(date.getTime() / 1000) - VHD_EPOCH) >>> 0;
}
