/**
 * A raw image file or block device as a Disk. Allocation: the file's data extents
 * (SEEK_DATA/SEEK_HOLE) for local files, every block for block devices; the converter's zero
 * detection then drops all-zero blocks (read-and-zero-scan). Block size 1 MiB unless told.
 * Reads skip holes: the extent map (loaded once) says which parts to read and which to zero-fill,
 * so a half-empty chunk costs half a read.
 */
import type { ByteSource, Disk, DiskDescription, LocalLayout } from '../types.js';
import { CeError } from '../../core/errors.js';
import { checkReadRange, isPowerOfTwo } from '../fields.js';
import { FileSource, identityLayout, readExact } from '../io/file.js';
import { canListExtents, dataExtents, extentBlocks } from './extents.js';

export const RAW_DEFAULT_BLOCK = 1 << 20;
/** Beyond this many extents the map is dropped and reads go to the file as they are. */
const MAX_EXTENTS = 1 << 20;

export class RawDisk implements Disk {
  readonly format = 'raw' as const;
  readonly subformat: string;
  readonly virtualSize: number;
  /** Sorted [start, end) data extents; undefined until loaded or when unknown. */
  private extents?: Float64Array;
  private extentsLoading?: Promise<void>;

  constructor(
    readonly source: ByteSource,
    readonly blockSize = RAW_DEFAULT_BLOCK,
  ) {
    if (!isPowerOfTwo(blockSize) || blockSize < 512) {
      throw new CeError('DISK_BLOCK_SIZE', `Raw block size ${blockSize} is not a power of two ≥ 512.`, { status: 400 });
    }
    this.virtualSize = source.size;
    this.subformat = (source as { isBlockDevice?: boolean }).isBlockDevice ? 'device' : 'file';
  }

  localFile(): LocalLayout | undefined {
    return this.source instanceof FileSource ? identityLayout(this.source) : undefined;
  }

  /** Whether blocks() knows holes (local sparse-aware file) rather than listing every block. */
  get knowsHoles(): boolean {
    return canListExtents(this.source);
  }

  async *blocks(): AsyncGenerator<number> {
    await this.loadExtents();
    const ex = this.extents;
    if (!ex) {
      yield* extentBlocks(this.source, this.blockSize, this.virtualSize);
      return;
    }
    // From the cached extent map: no lseek per call.
    const bs = this.blockSize;
    const count = Math.ceil(this.virtualSize / bs);
    let next = 0;
    for (let i = 0; i < ex.length; i += 2) {
      for (let b = Math.max(next, Math.floor(ex[i]! / bs)); b * bs < ex[i + 1]! && b < count; b++) {
        yield b;
        next = b + 1;
      }
    }
  }

  private loadExtents(): Promise<void> {
    this.extentsLoading ??= (async () => {
      if (!canListExtents(this.source)) return;
      const list: number[] = [];
      for await (const [s, e] of dataExtents(this.source, this.virtualSize)) {
        list.push(s, e);
        if (list.length > 2 * MAX_EXTENTS) return;
      }
      this.extents = Float64Array.from(list);
    })();
    return this.extentsLoading;
  }

  async read(offset: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    checkReadRange(offset, length, this.virtualSize, this.source.name);
    const out = buf.subarray(0, length);
    await this.loadExtents();
    const ex = this.extents;
    if (!ex) return readExact(this.source, offset, length, out);
    // First extent ending after offset (binary search), then read data parts and zero the holes.
    let lo = 0;
    let hi = ex.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ex[mid * 2 + 1]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    const end = offset + length;
    let pos = offset;
    const reads: Promise<unknown>[] = [];
    for (let i = lo; i < ex.length / 2 && pos < end; i++) {
      const s = Math.max(ex[i * 2]!, offset);
      const e = Math.min(ex[i * 2 + 1]!, end);
      if (s >= end) break;
      if (s > pos) out.fill(0, pos - offset, s - offset);
      if (e > s) reads.push(readExact(this.source, s, e - s, out.subarray(s - offset, e - offset)));
      pos = Math.max(pos, e);
    }
    if (pos < end) out.fill(0, pos - offset, length);
    await Promise.all(reads);
    return out;
  }

  /** Bytes in data extents (what the file really occupies), when the file system tells. */
  async allocatedBytes(): Promise<number | undefined> {
    await this.loadExtents();
    const ex = this.extents;
    if (!ex) return undefined;
    let n = 0;
    for (let i = 0; i < ex.length; i += 2) n += ex[i + 1]! - ex[i]!;
    return n;
  }

  describe(): DiskDescription {
    return {
      format: 'raw',
      subformat: this.subformat,
      virtualSize: this.virtualSize,
      fileSize: this.source.size,
      blockSize: this.blockSize,
      problems: [],
    };
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}
