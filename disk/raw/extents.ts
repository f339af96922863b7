/**
 * Data extents of a local file through lseek(SEEK_DATA/SEEK_HOLE) (Linux ≥ 3.1, via fs-ext's
 * lseek, which passes `whence` through, in core/seek-data.ts). Node has no API for it
 * (disk-formats.md §6.3 item 4).
 * Holes are only reported for sparse files on file systems that track them; elsewhere the whole
 * file comes back as one extent, which is still correct (extents are an upper bound of the data).
 */
import type { ByteSource } from '../types.js';
import { FileSource } from '../io/file.js';
import { SEEK_DATA, SEEK_HOLE, seekData } from '../../core/seek-data.js';

/** Whether `src` is a local regular file whose holes we can ask for. */
export function canListExtents(src: ByteSource): src is FileSource {
  return src instanceof FileSource && !src.isBlockDevice && process.platform === 'linux';
}

/** [start, end) data extents within [0, limit). Yields one extent covering everything if seeking fails. */
export async function* dataExtents(src: FileSource, limit: number): AsyncGenerator<[number, number]> {
  let pos = 0;
  while (pos < limit) {
    let data: number | null;
    let hole: number | null;
    try {
      data = await seekData(src.fd, pos, SEEK_DATA);
      if (data === null || data >= limit) return;
      hole = (await seekData(src.fd, data, SEEK_HOLE)) ?? limit;
    } catch {
      yield [pos, limit]; // EINVAL: the file system does not support SEEK_DATA
      return;
    }
    const end = Math.min(hole, limit);
    if (end <= data) return;
    yield [data, end];
    pos = end;
  }
}

/** Block indexes (ascending, unique) of `blockSize` blocks overlapping data in [0, limit). */
export async function* extentBlocks(src: ByteSource, blockSize: number, limit: number, baseOffset = 0): AsyncGenerator<number> {
  const count = Math.ceil(limit / blockSize);
  if (!canListExtents(src)) {
    for (let i = 0; i < count; i++) yield i;
    return;
  }
  let next = 0;
  for await (const [s, e] of dataExtents(src, baseOffset + limit)) {
    const start = Math.max(0, s - baseOffset);
    const end = e - baseOffset;
    if (end <= 0) continue;
    for (let i = Math.max(next, Math.floor(start / blockSize)); i * blockSize < end && i < count; i++) {
      yield i;
      next = i + 1;
    }
  }
}
