/**
 * MBR: four primary entries at 0x1BE (16 bytes each), signature 0x55AA at 0x1FE, disk signature
 * at 0x1B8. Extended partitions (0x05/0x0F/0x85) chain EBRs; each EBR's first entry is the
 * logical partition (relative to the EBR), the second links the next EBR (relative to the extended start).
 */
import { CeError } from '../../core/errors.js';
import type { Partition, PartitionKind } from './types.js';

export const MBR_TYPE_KIND: Record<number, PartitionKind> = {
  0x00: 'empty',
  0x07: 'basic-data', // NTFS / exFAT / IFS
  0x0b: 'basic-data', // FAT32 (CHS)
  0x0c: 'basic-data', // FAT32 (LBA)
  0x06: 'basic-data',
  0x0e: 'basic-data',
  0x27: 'recovery', // Windows RE hidden NTFS
  0xef: 'efi-system',
  0x05: 'extended',
  0x0f: 'extended',
  0x85: 'extended',
  0x83: 'linux',
};

export interface MbrEntry {
  bootable: boolean;
  type: number;
  lbaStart: number;
  lbaCount: number;
}

export function hasMbrSignature(sector0: Buffer): boolean {
  return sector0.length >= 512 && sector0[510] === 0x55 && sector0[511] === 0xaa;
}

export function parseMbrEntries(sector: Buffer): MbrEntry[] {
  const out: MbrEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const e = 0x1be + i * 16;
    out.push({
      bootable: sector[e] === 0x80,
      type: sector[e + 4],
      lbaStart: sector.readUInt32LE(e + 8),
      lbaCount: sector.readUInt32LE(e + 12),
    });
  }
  return out;
}

/** Walk the MBR (and EBR chain) into partitions. `readSector(lba)` returns 512 bytes. */
export async function parseMbr(
  sector0: Buffer,
  diskSize: number,
  readSector: (lba: number) => Promise<Buffer>,
  warnings: string[],
): Promise<Partition[]> {
  const parts: Partition[] = [];
  const entries = parseMbrEntries(sector0);
  entries.forEach((e, i) => {
    if (e.type === 0 || e.lbaCount === 0) return;
    parts.push(toPartition(i + 1, e, 0, diskSize, warnings));
  });
  const ext = entries.find((e) => MBR_TYPE_KIND[e.type] === 'extended' && e.lbaCount > 0);
  if (ext) {
    let ebrLba = ext.lbaStart;
    let index = 5;
    const seen = new Set<number>();
    while (ebrLba) {
      // A loop or a runaway chain is bad input, never a hang.
      if (seen.has(ebrLba) || seen.size >= 128) {
        throw new CeError('PARTITION_EBR_LOOP', `The extended partition chain loops or is too long (at LBA ${ebrLba}).`, {
          hint: 'The partition table is corrupt; repair it with a partitioning tool on a copy of the image.',
        });
      }
      seen.add(ebrLba);
      if (ebrLba * 512 + 512 > diskSize) {
        warnings.push(`EBR at LBA ${ebrLba} lies beyond the end of the disk; logical partitions after it are ignored.`);
        break;
      }
      const ebr = await readSector(ebrLba);
      if (!hasMbrSignature(ebr)) {
        warnings.push(`EBR at LBA ${ebrLba} has no 0x55AA signature; logical partitions after it are ignored.`);
        break;
      }
      const [logical, link] = parseMbrEntries(ebr);
      if (logical.type !== 0 && logical.lbaCount > 0) parts.push(toPartition(index++, logical, ebrLba, diskSize, warnings));
      ebrLba = link.type !== 0 && link.lbaCount > 0 ? ext.lbaStart + link.lbaStart : 0;
    }
  }
  return parts;
}

function toPartition(index: number, e: MbrEntry, base: number, diskSize: number, warnings: string[]): Partition {
  const offset = (base + e.lbaStart) * 512;
  let size = e.lbaCount * 512;
  if (offset >= diskSize) {
    throw new CeError('PARTITION_OUT_OF_RANGE', `Partition ${index} starts at byte ${offset}, beyond the disk (${diskSize} bytes).`, {
      hint: 'The image is truncated or the partition table is corrupt.',
      details: { index, offset, size, diskSize },
    });
  }
  if (offset + size > diskSize) {
    warnings.push(`Partition ${index} ends beyond the disk; clamped to the disk size.`);
    size = diskSize - offset;
  }
  return {
    index,
    offset,
    size,
    type: `0x${e.type.toString(16).padStart(2, '0')}`,
    kind: MBR_TYPE_KIND[e.type] ?? 'unknown',
    bootable: e.bootable,
  };
}
