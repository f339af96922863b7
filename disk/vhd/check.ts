/**
 * `ce check` for VHDs beyond what open() refuses: blocks overlapping each other or the metadata
 * (footer copy, header, BAT), and BAT entries past max_table_entries that are set.
 */
import type { Problem } from '../types.js';
import { bitmapSize, HEADER_SIZE } from './header.js';
import { BAT_UNUSED, type VhdDisk } from './disk.js';

export async function checkVhd(disk: VhdDisk): Promise<Problem[]> {
  const problems: Problem[] = [];
  const { header, bat } = disk;
  if (!header || !bat) return problems;
  const stride = bitmapSize(header.blockSize) + header.blockSize;
  const metaEnds: Array<[number, number, string]> = [
    [0, 512, 'footer copy'],
    [disk.footer.dataOffset ?? 512, (disk.footer.dataOffset ?? 512) + HEADER_SIZE, 'header'],
    [header.tableOffset, header.tableOffset + Math.ceil((bat.length * 4) / 512) * 512, 'BAT'],
  ];
  const blocks: Array<[number, number]> = [];
  for (let i = 0; i < bat.length; i++) if (bat[i] !== BAT_UNUSED) blocks.push([bat[i]! * 512, i]);
  blocks.sort((a, b) => a[0] - b[0]);
  for (let k = 0; k < blocks.length; k++) {
    const [start, i] = blocks[k]!;
    const end = start + stride;
    if (k + 1 < blocks.length && blocks[k + 1]![0] < end) {
      problems.push({ code: 'VHD_BLOCK_OVERLAP', severity: 'error', message: `Block ${i} overlaps block ${blocks[k + 1]![1]}.`, offset: start });
    }
    for (const [ms, me, what] of metaEnds) {
      if (start < me && ms < end) problems.push({ code: 'VHD_BLOCK_OVERLAP', severity: 'error', message: `Block ${i} overlaps the ${what}.`, offset: start });
    }
  }
  return problems;
}
