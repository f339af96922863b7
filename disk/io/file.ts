/**
 * Local files and block devices as ByteSource (read-only, never written through) and Sink.
 * Block devices report size 0 from stat; their size comes from seeking to the end.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import type { ByteSource, Sink } from '../types.js';
import { CeError } from '../../core/errors.js';

export class FileSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly fh: FileHandle,
    /** A block device (no holes information, size from sysfs). */
    readonly isBlockDevice = false,
    /** Modification time (ms since 1970), for resume checks. */
    readonly mtimeMs = 0,
  ) {}

  /** The OS file descriptor (read-only), for lseek(SEEK_DATA/SEEK_HOLE) on raw files. */
  get fd(): number {
    return this.fh.fd;
  }

  static async open(path: string): Promise<FileSource> {
    // O_RDONLY always: a source is never modified.
    const fh = await open(path, constants.O_RDONLY).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new CeError('SOURCE_NOT_FOUND', `The source ${path} does not exist.`, { hint: 'Check the path.', status: 404 });
      throw e;
    });
    const st = await fh.stat();
    let size = st.size;
    if (st.isBlockDevice()) size = await blockDeviceSize(fh);
    else if (st.isDirectory()) {
      await fh.close();
      throw new CeError('SOURCE_IS_DIRECTORY', `The source ${path} is a directory.`, { hint: 'Give an image file or a block device.' });
    }
    return new FileSource(path, size, fh, st.isBlockDevice(), st.mtimeMs);
  }

  async pread(buf: Buffer, position: number): Promise<number> {
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /** Read exactly `length` bytes at `position` or throw DISK_TRUNCATED. */
  async readExact(position: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    const n = await this.pread(buf.subarray(0, length), position);
    if (n < length) throw truncated(this.name, position, length, this.size);
    return buf.subarray(0, length);
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

export function truncated(name: string, position: number, length: number, size: number): CeError {
  return new CeError('DISK_TRUNCATED', `${name} is truncated: needed ${length} bytes at offset ${position}, the file has ${size}.`, {
    hint: 'The image was cut short (interrupted copy or download). Copy it again.',
    details: { position, length, size },
  });
}

/** Read exactly length bytes from any ByteSource or throw DISK_TRUNCATED. */
export async function readExact(src: ByteSource, position: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
  const view = buf.subarray(0, length);
  const n = await src.pread(view, position);
  if (n < length) throw truncated(src.name, position, length, src.size);
  return view;
}

async function blockDeviceSize(fh: FileHandle): Promise<number> {
  // Node has no BLKGETSIZE64; reading the size from sysfs needs the device name, so use lseek via a read probe:
  // binary search for the last readable byte would be slow; /proc/partitions-style lookup is enough on Linux.
  const { readFile, realpath } = await import('node:fs/promises');
  const path = await realpath(`/proc/self/fd/${fh.fd}`);
  const dev = path.replace(/^\/dev\//, '');
  const sectors = Number((await readFile(`/sys/class/block/${dev}/size`, 'utf8')).trim());
  return sectors * 512;
}

export interface FileSinkOptions {
  /**
   * false: sync() does nothing (`--no-fsync`, like qemu-img's cache=unsafe, which ignores flushes:
   * scratch outputs and benchmarks). Writers that sync before writing their signature last then
   * skip that sync too. Default true.
   */
  durable?: boolean;
}

export class FileSink implements Sink {
  readonly seekable = true;
  private constructor(
    readonly name: string,
    private readonly fh: FileHandle,
    private readonly ownsHandle: boolean,
    private readonly durable = true,
  ) {}

  /** Open (create/truncate unless `resume`) a file for writing. */
  static async open(path: string, opts: { resume?: boolean } & FileSinkOptions = {}): Promise<FileSink> {
    const fh = await open(path, opts.resume ? constants.O_RDWR | constants.O_CREAT : 'w');
    return new FileSink(path, fh, true, opts.durable !== false);
  }

  /** Wrap an open handle (e.g. from core/atomic writeAtomically); close() leaves it open. */
  static fromHandle(name: string, fh: FileHandle, opts: FileSinkOptions = {}): FileSink {
    return new FileSink(name, fh, false, opts.durable !== false);
  }

  async pwrite(data: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  async pwritev(data: Buffer[], position: number): Promise<void> {
    const total = data.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await this.fh.writev(data, position);
    if (bytesWritten < total) {
      // Short gather write (rare): finish the rest piece by piece.
      let skip = bytesWritten;
      let pos = position + bytesWritten;
      for (const b of data) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        await this.pwrite(b.subarray(skip), pos);
        pos += b.length - skip;
        skip = 0;
      }
    }
  }

  async truncate(length: number): Promise<void> {
    await this.fh.truncate(length);
  }

  async sync(): Promise<void> {
    if (this.durable) await this.fh.sync();
  }

  async close(): Promise<void> {
    if (this.ownsHandle) await this.fh.close().catch(() => undefined);
  }
}
