/**
 * A transaction-log writer for tests. No real dirty hive with its logs is in the fixtures, so
 * we build them from the format (regf spec, "Format of transaction log files"): a primary file
 * left dirty at an older state, and .LOG1/.LOG2 holding the pages that bring it to a newer one.
 */
import { baseBlockChecksum } from '../../disk/hive/base-block.js';
import { marvin32 } from '../../disk/hive/marvin32.js';

const PAGE = 4096;

function binsOf(image: Buffer): Buffer {
  return image.subarray(PAGE, PAGE + image.readUInt32LE(40));
}

/** Runs of 4096-byte pages of the hive bins that differ between two images. */
export function dirtyRuns(before: Buffer, after: Buffer): { offset: number; data: Buffer }[] {
  const a = binsOf(before);
  const b = binsOf(after);
  const runs: { offset: number; data: Buffer }[] = [];
  let start = -1;
  for (let off = 0; off <= b.length; off += PAGE) {
    const dirty = off < b.length && (off >= a.length || !a.subarray(off, off + PAGE).equals(b.subarray(off, off + PAGE)));
    if (dirty && start < 0) start = off;
    if (!dirty && start >= 0) {
      runs.push({ offset: start, data: Buffer.from(b.subarray(start, off)) });
      start = -1;
    }
  }
  return runs;
}

/** One HvLE entry: the pages that turn `before` into `after`, with sequence number `seq`. */
export function hvleEntry(before: Buffer, after: Buffer, seq: number): Buffer {
  const runs = dirtyRuns(before, after);
  const dataLen = runs.reduce((n, r) => n + r.data.length, 0);
  const size = Math.ceil((40 + runs.length * 8 + dataLen) / 512) * 512;
  const e = Buffer.alloc(size);
  e.write('HvLE', 0, 'latin1');
  e.writeUInt32LE(size, 4);
  e.writeUInt32LE(0, 8);
  e.writeUInt32LE(seq, 12);
  e.writeUInt32LE(after.readUInt32LE(40), 16);
  e.writeUInt32LE(runs.length, 20);
  let p = 40 + runs.length * 8;
  runs.forEach((r, i) => {
    e.writeUInt32LE(r.offset, 40 + i * 8);
    e.writeUInt32LE(r.data.length, 44 + i * 8);
    r.data.copy(e, p);
    p += r.data.length;
  });
  e.writeBigUInt64LE(marvin32(e.subarray(40)), 24);
  e.writeBigUInt64LE(marvin32(e.subarray(0, 32)), 32);
  return e;
}

/** A first sector for a log: the base block of `image`, file type `type`, both sequence numbers `seq`. */
export function logBaseSector(image: Buffer, type: number, seq: number): Buffer {
  const s = Buffer.from(image.subarray(0, 512));
  s.writeUInt32LE(seq, 4);
  s.writeUInt32LE(seq, 8);
  s.writeUInt32LE(type, 28);
  s.writeUInt32LE(baseBlockChecksum(s), 508);
  return s;
}

/** A new-format log (file type 6) with the given entries. */
export function newFormatLog(baseImage: Buffer, seq: number, entries: Buffer[]): Buffer {
  return Buffer.concat([logBaseSector(baseImage, 6, seq), ...entries]);
}

/**
 * An old-format log (file type 1): base sector, 'DIRT' + bitmap of 512-byte pages, the pages.
 * Its timestamp must equal the primary's, so it is built from `primary`'s base block.
 */
export function oldFormatLog(primary: Buffer, after: Buffer, seq: number): Buffer {
  const base = Buffer.from(primary.subarray(0, 512));
  base.writeUInt32LE(after.readUInt32LE(40), 40);
  const sector = logBaseSector(base, 1, seq);
  const a = binsOf(primary);
  const b = binsOf(after);
  const bits = b.length / 512;
  const bitmap = Buffer.alloc(Math.ceil(bits / 8));
  const pages: Buffer[] = [];
  for (let i = 0; i < bits; i++) {
    const off = i * 512;
    if (off >= a.length || !a.subarray(off, off + 512).equals(b.subarray(off, off + 512))) {
      bitmap[i >> 3]! |= 1 << (i & 7);
      pages.push(b.subarray(off, off + 512));
    }
  }
  const head = Buffer.concat([Buffer.from('DIRT', 'latin1'), bitmap]);
  const padded = Buffer.alloc(Math.ceil(head.length / 512) * 512);
  head.copy(padded);
  return Buffer.concat([sector, padded, ...pages]);
}

/** Make a primary image dirty: secondary sequence number `seq`, primary `seq + n`, checksum fixed. */
export function makeDirty(image: Buffer, seq: number, n = 1): Buffer {
  const d = Buffer.from(image);
  d.writeUInt32LE(seq + n, 4);
  d.writeUInt32LE(seq, 8);
  d.writeUInt32LE(baseBlockChecksum(d), 508);
  return d;
}
