/**
 * Data extents of a local file through lseek(SEEK_DATA/SEEK_HOLE) (Linux ≥ 3.1, via fs-ext's
 * lseek, which passes `whence` through, in core/seek-data.ts, so it also works in job threads). Node has no API for it (disk-formats.md §6.3 item 4).
 * Holes are only reported for sparse files on file systems that track them; elsewhere the whole
 * file comes back as one extent, which is still correct (extents are an upper bound of the data).
 */
import type { ByteSource } from '../types.js';
import { FileSource, readExact } from '../io/file.js';
import { seekExtents } from '../../core/seek-data.js';

/** Whether `src` is a local regular file whose holes we can ask for. */
export function canListExtents(src: ByteSource): src is FileSource {
  return src instanceof FileSource && !src.isBlockDevice && process.platform === 'linux';
}

/** [start, end) data extents within [0, limit). Yields one extent covering everything if seeking fails. */
export async function* dataExtents(src: FileSource, limit: number): AsyncGenerator<[number, number]> {
  let pos: number | null = 0;
  while (pos !== null && pos < limit) {
    let batch;
    try {
      batch = await seekExtents(src.fd, pos, limit); // in batches: one round trip from a job thread
    } catch {
      yield [pos, limit]; // EINVAL: the file system does not support SEEK_DATA
      return;
    }
    for (let i = 0; i < batch.list.length; i += 2) yield [batch.list[i]!, batch.list[i + 1]!];
    pos = batch.next;
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

/**
 * The data extents of a local file as a sorted Float64Array [start0, end0, start1, end1, …],
 * loaded once per source and cached (image files are read-only sources: their holes do not
 * move). undefined when the file cannot tell (block device, not local, too many extents).
 * Lets image readers skip the holes of a sparse image file (a qemu-made VHDX leaves the zero
 * parts of its blocks as holes), as qemu-img does through SEEK_DATA.
 */
const maps = new WeakMap<ByteSource, Promise<Float64Array | undefined>>();
const loaded = new WeakMap<ByteSource, Float64Array>();
const MAX_MAP_EXTENTS = 1 << 20;

export function loadExtentMap(src: ByteSource, limit = src.size): Promise<Float64Array | undefined> {
  let p = maps.get(src);
  if (!p) {
    p = (async () => {
      if (!canListExtents(src)) return undefined;
      const list: number[] = [];
      for await (const [s, e] of dataExtents(src, limit)) {
        list.push(s, e);
        if (list.length > 2 * MAX_MAP_EXTENTS) return undefined;
      }
      const map = Float64Array.from(list);
      loaded.set(src, map);
      return map;
    })();
    maps.set(src, p);
  }
  return p;
}

/** The extent map of `src` if loadExtentMap() has finished for it. */
export function extentMapOf(src: ByteSource): Float64Array | undefined {
  return loaded.get(src);
}

/** Index of the first extent that ends after `pos`. */
function firstExtentAfter(map: Float64Array, pos: number): number {
  let lo = 0;
  let hi = map.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid * 2 + 1]! <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Whether any data extent overlaps [start, end). */
export function hasData(map: Float64Array, start: number, end: number): boolean {
  const i = firstExtentAfter(map, start);
  return i < map.length / 2 && map[i * 2]! < end;
}

/**
 * The dataFilter of an image whose blocks lie in its file (VHD, VHDX): `where(block)` gives the
 * file offset of a block's data, 'data' when the block counts as data whatever the file holds
 * (partial blocks, the parent's data), or 'zero'. Virtual [offset, offset + length) may hold data
 * when a block of it is 'data' or its file bytes overlap a data extent of `map` (or lie past EOF).
 */
export function blockDataFilter(map: Float64Array, fileSize: number, blockSize: number, where: (block: number) => number | 'data' | 'zero'): (offset: number, length: number) => boolean {
  return (offset, length) => {
    for (let pos = offset; pos < offset + length; ) {
      const block = Math.floor(pos / blockSize);
      const end = Math.min(offset + length, (block + 1) * blockSize);
      const w = where(block);
      if (w === 'data') return true;
      if (w !== 'zero') {
        const file = w + (pos - block * blockSize);
        if (file + (end - pos) > fileSize || hasData(map, file, file + (end - pos))) return true;
      }
      pos = end;
    }
    return false;
  };
}

/**
 * Fill `view` from file offset `position`: data extents are read (concurrently), holes are
 * zero-filled without I/O. Short data reads throw DISK_TRUNCATED like readExact.
 */
export async function readSkippingHoles(src: ByteSource, map: Float64Array, position: number, view: Buffer): Promise<void> {
  const end = position + view.length;
  let pos = position;
  const reads: Promise<unknown>[] = [];
  for (let i = firstExtentAfter(map, position); i < map.length / 2 && pos < end; i++) {
    const s = Math.max(map[i * 2]!, position);
    const e = Math.min(map[i * 2 + 1]!, end);
    if (s >= end) break;
    if (s > pos) view.fill(0, pos - position, s - position);
    if (e > s) reads.push(readExact(src, s, e - s, view.subarray(s - position, e - position)));
    pos = Math.max(pos, e);
  }
  if (pos < end) view.fill(0, pos - position);
  await Promise.all(reads);
}
