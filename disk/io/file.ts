/**
 * Local files and block devices as ByteSource (read-only, never written through) and Sink.
 * Block devices report size 0 from stat; their size comes from seeking to the end.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import type { ByteSource, LocalLayout, Sink } from '../types.js';
import { CeError } from '../../core/errors.js';
import { isPageAligned } from './aligned.js';
import { nativeDisk } from './native-disk.js';

/** Disk.localFile() of a disk whose bytes are the file's (raw, fixed VHD): virtual offset = file offset. */
export function identityLayout(file: FileSource): LocalLayout {
  return { file, identity: true, at: (offset, max) => [offset, max] };
}

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
   * Write page-aligned bulk data with O_DIRECT (straight from our buffers to the device, no
   * page-cache copy, nothing left to write back at the final fsync). Everything else (metadata,
   * unaligned pieces) goes through the page cache as usual; a file system without O_DIRECT
   * (tmpfs, some FUSE) just falls back. Default false; the engine sets it for durable outputs.
   */
  direct?: boolean;
  /**
   * false: sync() does nothing (`--no-fsync`, like qemu-img's cache=unsafe, which ignores flushes:
   * scratch outputs and benchmarks). Writers that sync before writing their signature last then
   * skip that sync too. Default true.
   */
  durable?: boolean;
}

/** A write waiting in FileSink's queue. */
interface QueuedWrite {
  data: Buffer[];
  position: number;
  length: number;
  resolve(): void;
  reject(e: unknown): void;
}

/** Most bytes and buffers one gather write takes from the queue (IOV_MAX is 1024). */
const MAX_GATHER_BYTES = 16 << 20;
const MAX_GATHER_BUFFERS = 64;
/** O_DIRECT wants offsets, lengths and memory in whole logical blocks; 4 KiB covers every device. */
const DIRECT_ALIGN = 4096;
/** Smaller writes (metadata) go through the page cache: O_DIRECT pays off on bulk data only. */
const DIRECT_MIN = 64 * 1024;

/**
 * Writes to a local file, one system call at a time: queued writes that continue each other go
 * out as one gather write. Why: a buffered write holds the inode's lock for the whole copy into
 * the page cache (ext4, XFS), so parallel pwrites to one file never overlap; they only make the
 * waiters spin on the lock (rwsem_spin_on_owner), burning a CPU the reads need. Measured on
 * 1 GiB of 1 MiB writes here (2 cores): 4 in flight 1.06 s and 1.6 s of system CPU, 1 in flight
 * 0.72 s and 0.75 s. Callers still keep several writes queued, so the file is never idle.
 */
export class FileSink implements Sink {
  readonly seekable = true;
  private readonly queue: QueuedWrite[] = [];
  private pumping?: Promise<void>;
  /** The O_DIRECT handle: undefined until first needed, null when direct I/O is off or failed. */
  private directFh?: FileHandle | null;
  /** Bytes written with O_DIRECT (tests, benchmarks). */
  directBytes = 0;
  /** Which data path wrote the bulk: 'native' once ../convert/native-copy.ts took this sink. */
  dataPath: 'native' | 'js' = 'js';
  /** fallocate() before buffered bulk writes: until the file system says it cannot (see preallocate). */
  private fallocate = true;
  private constructor(
    readonly name: string,
    private readonly fh: FileHandle,
    private readonly ownsHandle: boolean,
    private readonly durable = true,
    direct = false,
  ) {
    if (!direct) this.directFh = null;
  }

  /** Open (create/truncate unless `resume`) a file for writing. */
  static async open(path: string, opts: { resume?: boolean } & FileSinkOptions = {}): Promise<FileSink> {
    const fh = await open(path, opts.resume ? constants.O_RDWR | constants.O_CREAT : 'w');
    return new FileSink(path, fh, true, opts.durable !== false, opts.direct === true);
  }

  /** Wrap an open handle (e.g. from core/atomic writeAtomically); close() leaves it open. */
  static fromHandle(name: string, fh: FileHandle, opts: FileSinkOptions = {}): FileSink {
    return new FileSink(name, fh, false, opts.durable !== false, opts.direct === true);
  }

  pwrite(data: Buffer, position: number): Promise<void> {
    return this.enqueue([data], position);
  }

  pwritev(data: Buffer[], position: number): Promise<void> {
    return this.enqueue(data, position);
  }

  private enqueue(data: Buffer[], position: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, position, length: data.reduce((n, b) => n + b.length, 0), resolve, reject });
      this.kick();
    });
  }

  /** Start the pump unless it runs; a write queued while it was finishing restarts it. */
  private kick(): void {
    if (this.pumping || !this.queue.length) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      this.kick();
    });
  }

  private async pump(): Promise<void> {
    while (this.queue.length) {
      const batch = [this.queue.shift()!];
      let end = batch[0]!.position + batch[0]!.length;
      let bytes = batch[0]!.length;
      let buffers = batch[0]!.data.length;
      // With O_DIRECT on, a page-aligned write and an unaligned one (a 512-byte VHD bitmap before
      // its block's data) are not gathered: together they could only go through the cache.
      const kind = this.directFh !== null && this.directEligible(batch[0]!.data, batch[0]!.position);
      for (let next = this.queue[0]; next && next.position === end; next = this.queue[0]) {
        if (bytes + next.length > MAX_GATHER_BYTES || buffers + next.data.length > MAX_GATHER_BUFFERS) break;
        if (this.directFh !== null && this.directEligible(next.data, next.position) !== kind) break;
        batch.push(this.queue.shift()!);
        end += next.length;
        bytes += next.length;
        buffers += next.data.length;
      }
      try {
        const data = batch.flatMap((w) => w.data);
        const position = batch[0]!.position;
        const direct = kind && bytes >= DIRECT_MIN && (await this.writeDirect(data, position, bytes));
        if (!direct) {
          if (bytes >= DIRECT_MIN) this.preallocate(position, bytes);
          await this.writeAll(this.fh, data, position);
        }
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
  }

  /**
   * Allocate [position, +bytes) before a buffered bulk write: ext4 otherwise charges its delayed
   * allocation per page of a write into a hole (1 GiB copied in 0.31-0.46 s instead of
   * 0.13-0.19 s, see ../native/copy.c). Needs the native addon; a file system or device without
   * fallocate (tmpfs has it; block devices do not) turns it off for this sink. ENOSPC is left to
   * the write, which reports it as usual.
   */
  private preallocate(position: number, bytes: number): void {
    if (!this.fallocate) return;
    const addon = nativeDisk();
    const err = addon ? addon.fallocate(this.fh.fd, position, bytes) : -1;
    if (err !== 0) this.fallocate = false;
  }

  /**
   * For the native data path (../convert/native-copy.ts), once every queued write went out: the
   * buffered descriptor and, for durable outputs, the O_DIRECT one (-1 when off or unsupported).
   */
  async descriptors(): Promise<{ fd: number; directFd: number }> {
    await this.idle();
    const direct = await this.directHandle();
    return { fd: this.fh.fd, directFd: direct?.fd ?? -1 };
  }

  /** The O_DIRECT handle, opened on first use; null when direct I/O is off or this file system refuses it. */
  private async directHandle(): Promise<FileHandle | null> {
    if (this.directFh === undefined) this.directFh = await open(this.name, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
    return this.directFh;
  }

  /** Page-aligned memory, offset and lengths in whole 4 KiB pages: what O_DIRECT accepts everywhere. */
  private directEligible(data: Buffer[], position: number): boolean {
    return position % DIRECT_ALIGN === 0 && data.every((b) => b.length % DIRECT_ALIGN === 0 && isPageAligned(b));
  }

  /**
   * An O_DIRECT write of eligible `data` (see directEligible); false when it went nowhere (no
   * O_DIRECT here) and the caller writes it through the cache.
   */
  private async writeDirect(data: Buffer[], position: number, bytes: number): Promise<boolean> {
    const direct = await this.directHandle();
    if (!direct) return false;
    try {
      await this.writeAll(direct, data, position);
      this.directBytes += bytes;
      return true;
    } catch (e) {
      // EINVAL: this file system or device wants another alignment; write through the cache from now on.
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      await direct.close().catch(() => undefined);
      this.directFh = null;
      return false;
    }
  }

  /** Every byte of `data` at `position` (short writes continue where they stopped). */
  private async writeAll(fh: FileHandle, data: Buffer[], position: number): Promise<void> {
    if (data.length === 1) {
      const b = data[0]!;
      for (let done = 0; done < b.length; ) done += (await fh.write(b, done, b.length - done, position + done)).bytesWritten;
      return;
    }
    const total = data.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fh.writev(data, position);
    if (bytesWritten < total) {
      // Short gather write (rare): finish the rest piece by piece.
      let skip = bytesWritten;
      let pos = position + bytesWritten;
      for (const b of data) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        await this.writeAll(fh, [b.subarray(skip)], pos);
        pos += b.length - skip;
        skip = 0;
      }
    }
  }

  /** Resolves once every queued write has been written. */
  private async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  async truncate(length: number): Promise<void> {
    await this.idle();
    await this.fh.truncate(length);
  }

  async sync(): Promise<void> {
    await this.idle();
    if (this.durable) await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.idle();
    await this.directFh?.close().catch(() => undefined);
    this.directFh = null;
    if (this.ownsHandle) await this.fh.close().catch(() => undefined);
  }
}
