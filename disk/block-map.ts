/**
 * Allocation maps across granularities: a writer with block size B asks which of its blocks hold
 * data when the source reports blocks of size S (raw 1 MiB, VHD 2 MiB, VMDK 64 KiB, VHDX 32 MiB…).
 */
import type { Disk } from './types.js';

/** Sorted, unique indexes of `blockSize` blocks that overlap any block listed by `disk.blocks()`. */
export async function planBlocks(disk: Disk, blockSize: number, signal?: AbortSignal): Promise<number[]> {
  const out: number[] = [];
  const count = Math.ceil(disk.virtualSize / blockSize);
  let last = -1;
  let n = 0;
  for await (const b of disk.blocks()) {
    if ((++n & 0xffff) === 0 && signal?.aborted) break;
    const start = b * disk.blockSize;
    const end = Math.min(start + disk.blockSize, disk.virtualSize);
    for (let i = Math.max(Math.floor(start / blockSize), last + 1); i * blockSize < end && i < count; i++) {
      out.push(i);
      last = i;
    }
  }
  return out;
}

/** A set of block indexes as a bitmap (1 bit per block), for union across a chain. */
export class BlockSet {
  private readonly bits: Uint8Array;
  constructor(readonly count: number) {
    this.bits = new Uint8Array(Math.ceil(count / 8));
  }
  add(i: number): void {
    if (i >= 0 && i < this.count) this.bits[i >> 3]! |= 1 << (i & 7);
  }
  has(i: number): boolean {
    return (this.bits[i >> 3]! & (1 << (i & 7))) !== 0;
  }
  *[Symbol.iterator](): Iterator<number> {
    for (let byte = 0; byte < this.bits.length; byte++) {
      const v = this.bits[byte]!;
      if (v === 0) continue;
      for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) yield byte * 8 + bit;
    }
  }
}

/** Add a disk's allocated blocks, mapped to `blockSize`, into a BlockSet. */
export async function addBlocks(set: BlockSet, disk: Disk, blockSize: number): Promise<void> {
  for (const i of await planBlocks(disk, blockSize)) set.add(i);
}
