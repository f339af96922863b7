/**
 * A raw image file or block device as a Disk. Allocation: the file's data extents
 * (SEEK_DATA/SEEK_HOLE) for local files, every block for block devices; the converter's zero
 * detection then drops all-zero blocks (read-and-zero-scan). Block size 1 MiB unless told.
 */
import type { ByteSource, Disk, DiskDescription } from '../types.js';
import { CeError } from '../../core/errors.js';
import { checkReadRange, isPowerOfTwo } from '../fields.js';
import { readExact } from '../io/file.js';
import { canListExtents, extentBlocks } from './extents.js';

export const RAW_DEFAULT_BLOCK = 1 << 20;

export class RawDisk implements Disk {
  readonly format = 'raw' as const;
  readonly subformat: string;
  readonly virtualSize: number;

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

  /** Whether blocks() knows holes (local sparse-aware file) rather than listing every block. */
  get knowsHoles(): boolean {
    return canListExtents(this.source);
  }

  blocks(): AsyncIterable<number> {
    return extentBlocks(this.source, this.blockSize, this.virtualSize);
  }

  async read(offset: number, length: number, buf?: Buffer): Promise<Buffer> {
    checkReadRange(offset, length, this.virtualSize, this.source.name);
    return readExact(this.source, offset, length, buf);
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
