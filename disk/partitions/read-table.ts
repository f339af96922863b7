/**
 * Read the partition table of a disk: a protective MBR (type 0xEE) means GPT, else MBR, else none.
 * Works on any `ByteSource`-like reader (a raw file, a block device, or a `Disk` through `fromDisk`).
 */
import { CeError } from '../../core/errors.js';
import { hasMbrSignature, parseMbr, parseMbrEntries } from './mbr.js';
import { parseGpt } from './gpt.js';
import type { PartitionTable } from './types.js';

export interface SectorReader {
  readonly name: string;
  readonly size: number;
  /** Read exactly length bytes at offset (throws on a short read). */
  readAt(offset: number, length: number): Promise<Buffer>;
}

export async function readPartitionTable(r: SectorReader): Promise<PartitionTable> {
  if (r.size < 512) {
    throw new CeError('DISK_TOO_SMALL', `${r.name} is ${r.size} bytes, too small to hold a partition table.`, { hint: 'Give a whole disk image.' });
  }
  const warnings: string[] = [];
  const s0 = await r.readAt(0, 512);
  if (!hasMbrSignature(s0)) return { kind: 'none', sectorSize: 512, partitions: [], warnings: ['No MBR signature (0x55AA): no partition table.'] };
  const entries = parseMbrEntries(s0);
  const protective = entries.some((e) => e.type === 0xee);
  if (protective) {
    // 512-byte sectors first, then 4Kn disks (EFI PART at byte 4096).
    for (const sectorSize of [512, 4096]) {
      if (r.size < sectorSize * 3) continue;
      const sig = (await r.readAt(sectorSize, 8)).toString('latin1');
      if (sig !== 'EFI PART') continue;
      const g = await parseGpt(sectorSize, r.size, (o, l) => r.readAt(o, l), warnings);
      return { kind: 'gpt', sectorSize, diskGuid: g.header.diskGuid, partitions: g.partitions, backupHeader: g.backupHeader, warnings };
    }
    // Primary header gone: try the backup at the last LBA.
    const g = await parseGpt(512, r.size, (o, l) => r.readAt(o, l), warnings);
    return { kind: 'gpt', sectorSize: 512, diskGuid: g.header.diskGuid, partitions: g.partitions, backupHeader: g.backupHeader, warnings };
  }
  const partitions = await parseMbr(s0, r.size, (lba) => r.readAt(lba * 512, 512), warnings);
  return {
    kind: 'mbr',
    sectorSize: 512,
    diskSignature: s0.readUInt32LE(0x1b8).toString(16).padStart(8, '0'),
    partitions,
    warnings,
  };
}
