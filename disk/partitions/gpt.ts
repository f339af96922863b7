/**
 * GPT (UEFI spec §5.3): the header at LBA 1 and its backup at the last LBA, each with a CRC32 of
 * the header (CRC field zeroed) and a CRC32 of the entry array. The primary wins when valid; a
 * corrupt primary falls back to the backup (warning); both corrupt is GPT_CORRUPT.
 */
import { crc32 } from 'node:zlib';
import { CeError } from '../../core/errors.js';
import { GPT_TYPES, guidFromBytes } from './guid.js';
import type { Partition } from './types.js';

const SIGNATURE = 'EFI PART';
const MAX_ENTRIES = 1024; // far above the usual 128; a huge count is bad input
const MAX_ENTRY_SIZE = 4096;

export interface GptHeader {
  myLba: number;
  alternateLba: number;
  firstUsable: number;
  lastUsable: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
}

type ReadAt = (offset: number, length: number) => Promise<Buffer>;

function u64(b: Buffer, off: number, what: string): number {
  const v = b.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CeError('GPT_FIELD_RANGE', `GPT ${what} is out of range (${v}).`, { hint: 'The GPT is corrupt.' });
  return Number(v);
}

/** Parse and CRC-check one header sector; returns undefined with a reason when invalid. */
export function parseGptHeader(sector: Buffer): GptHeader | string {
  if (sector.subarray(0, 8).toString('latin1') !== SIGNATURE) return 'no EFI PART signature';
  const headerSize = sector.readUInt32LE(12);
  if (headerSize < 92 || headerSize > sector.length) return `bad header size ${headerSize}`;
  const stored = sector.readUInt32LE(16);
  const copy = Buffer.from(sector.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) >>> 0 !== stored) return 'header CRC32 mismatch';
  const entryCount = sector.readUInt32LE(80);
  const entrySize = sector.readUInt32LE(84);
  if (entryCount > MAX_ENTRIES) return `too many entries (${entryCount})`;
  if (entrySize < 128 || entrySize > MAX_ENTRY_SIZE || entrySize % 8 !== 0) return `bad entry size ${entrySize}`;
  return {
    myLba: u64(sector, 24, 'MyLBA'),
    alternateLba: u64(sector, 32, 'AlternateLBA'),
    firstUsable: u64(sector, 40, 'FirstUsableLBA'),
    lastUsable: u64(sector, 48, 'LastUsableLBA'),
    diskGuid: guidFromBytes(sector, 56),
    entriesLba: u64(sector, 72, 'PartitionEntryLBA'),
    entryCount,
    entrySize,
    entriesCrc: sector.readUInt32LE(88),
  };
}

async function readEntries(h: GptHeader, sectorSize: number, diskSize: number, readAt: ReadAt): Promise<Buffer | string> {
  const len = h.entryCount * h.entrySize;
  const off = h.entriesLba * sectorSize;
  if (off + len > diskSize) return 'entry array beyond the end of the disk';
  const buf = await readAt(off, len);
  if (crc32(buf) >>> 0 !== h.entriesCrc) return 'entry array CRC32 mismatch';
  return buf;
}

export interface GptResult {
  header: GptHeader;
  partitions: Partition[];
  backupHeader: 'ok' | 'missing' | 'corrupt';
}

export async function parseGpt(sectorSize: number, diskSize: number, readAt: ReadAt, warnings: string[]): Promise<GptResult> {
  const lastLba = Math.floor(diskSize / sectorSize) - 1;
  const primary = parseGptHeader(await readAt(sectorSize, sectorSize));
  let primaryEntries: Buffer | string = 'header invalid';
  if (typeof primary !== 'string') primaryEntries = await readEntries(primary, sectorSize, diskSize, readAt);

  // The backup: where the primary says, else the last LBA of the disk.
  const backupLba = typeof primary !== 'string' && primary.alternateLba <= lastLba ? primary.alternateLba : lastLba;
  const backup = parseGptHeader(await readAt(backupLba * sectorSize, sectorSize));
  let backupEntries: Buffer | string = 'header invalid';
  if (typeof backup !== 'string') backupEntries = await readEntries(backup, sectorSize, diskSize, readAt);

  let backupState: GptResult['backupHeader'] = 'ok';
  if (typeof backup === 'string' || typeof backupEntries === 'string') {
    backupState = typeof backup === 'string' && backup === 'no EFI PART signature' ? 'missing' : 'corrupt';
    warnings.push(`The backup GPT header at LBA ${backupLba} is ${backupState}: ${typeof backup === 'string' ? backup : backupEntries}.`);
  }

  let header: GptHeader;
  let entries: Buffer;
  if (typeof primary !== 'string' && typeof primaryEntries !== 'string') {
    header = primary;
    entries = primaryEntries;
    if (backupState === 'ok' && typeof backupEntries !== 'string' && !backupEntries.equals(primaryEntries)) {
      warnings.push('The backup GPT entry array differs from the primary; the primary is used.');
    }
  } else if (typeof backup !== 'string' && typeof backupEntries !== 'string') {
    warnings.push(`The primary GPT is invalid (${typeof primary === 'string' ? primary : primaryEntries}); the backup is used.`);
    header = backup;
    entries = backupEntries;
  } else {
    throw new CeError('GPT_CORRUPT', `Both GPT headers are invalid: primary ${typeof primary === 'string' ? primary : primaryEntries}, backup ${typeof backup === 'string' ? backup : backupEntries}.`, {
      hint: 'The partition table is corrupt or the image is truncated. Check the image with `ce check`.',
    });
  }
  return { header, partitions: parseEntries(header, entries, sectorSize, diskSize, warnings), backupHeader: backupState };
}

function parseEntries(h: GptHeader, buf: Buffer, sectorSize: number, diskSize: number, warnings: string[]): Partition[] {
  const out: Partition[] = [];
  for (let i = 0; i < h.entryCount; i++) {
    const e = buf.subarray(i * h.entrySize, (i + 1) * h.entrySize);
    if (e.subarray(0, 16).every((x) => x === 0)) continue; // unused entry
    const type = guidFromBytes(e, 0);
    const first = u64(e, 32, 'StartingLBA');
    const last = u64(e, 40, 'EndingLBA');
    if (last < first || first < h.firstUsable || last > h.lastUsable) {
      throw new CeError('PARTITION_OUT_OF_RANGE', `GPT entry ${i + 1} spans LBA ${first}–${last}, outside the usable range ${h.firstUsable}–${h.lastUsable}.`, {
        hint: 'The partition table is corrupt.',
        details: { index: i + 1, first, last },
      });
    }
    const offset = first * sectorSize;
    let size = (last - first + 1) * sectorSize;
    if (offset + size > diskSize) {
      warnings.push(`GPT partition ${i + 1} ends beyond the disk; clamped.`);
      size = Math.max(0, diskSize - offset);
    }
    const nameRaw = e.subarray(56, 56 + 72).toString('utf16le');
    out.push({
      index: i + 1,
      offset,
      size,
      type,
      kind: GPT_TYPES[type] ?? 'unknown',
      guid: guidFromBytes(e, 16),
      name: nameRaw.replace(/\0.*$/s, ''),
    });
  }
  return out;
}
