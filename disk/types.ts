/**
 * The contracts of the disk engine. Every format module (raw, vhd, vhdx, vmdk, qcow2) implements
 * `DiskFormatModule`: a probe, an opener that returns a `Disk`, and writers that consume a `Disk`.
 * A conversion is `Disk (reader) → decorators (read-ahead, zero detection, hashing, progress) → DiskWriter → Sink`.
 *
 * Sizes and offsets are JS numbers: every 64-bit field is parsed as BigInt and range-checked
 * (≤ 2^53) at parse time (`DISK_FIELD_RANGE` otherwise), so the rest of the code is plain numbers.
 */
import type { FileSource } from './io/file.js';

/** Where a disk's bytes lie in its local file (Disk.localFile). */
export interface LocalLayout {
  file: FileSource;
  /** File offset = virtual offset everywhere. */
  identity: boolean;
  /** The extent at virtual `offset`: its file offset (-1: reads as zeros) and length (1..max). */
  at(offset: number, max: number): [fileOffset: number, length: number];
}

/** Random-access bytes: a file, a block device, an SMB file. Never written through. */
export interface ByteSource {
  /** Path or URL, for messages and for resolving relative parents/extents. */
  readonly name: string;
  readonly size: number;
  /** Read up to buf.length bytes at position; returns bytes read (short only at EOF). */
  pread(buf: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

/** Where an output goes: a local file, a block device, an SMB file, a pipe. */
export interface Sink {
  readonly name: string;
  /** false for pipes/HTTP streams: then pwrite positions must be strictly sequential. */
  readonly seekable: boolean;
  /** Resolves once the sink no longer needs `data` (the writer may then reuse the buffer). */
  pwrite(data: Buffer, position: number): Promise<void>;
  /** Optional gather write of contiguous buffers at position (one system call / request). */
  pwritev?(data: Buffer[], position: number): Promise<void>;
  /** Set the final length (holes read as zero). Optional for sequential sinks. */
  truncate?(length: number): Promise<void>;
  /** Flush to stable storage. */
  sync?(): Promise<void>;
  close(): Promise<void>;
}

/** A problem found while opening or checking an image (ce info / ce check). */
export interface Problem {
  code: string;
  message: string;
  severity: 'error' | 'warning';
  offset?: number;
}

export type FormatName = 'raw' | 'vhd' | 'vhdx' | 'vmdk' | 'qcow2';

/** A readable virtual disk: one image, or a differencing chain that reads as one disk. */
export interface Disk {
  readonly format: FormatName;
  /** e.g. fixed | dynamic | differencing | monolithicSparse | streamOptimized | monolithicFlat | v2 | v3 */
  readonly subformat: string;
  readonly virtualSize: number;
  /** Allocation granularity of `blocks()`, a power of two ≥ 512 (VHD 2 MiB, VHDX block size, VMDK grain 64 KiB, qcow2 cluster). */
  readonly blockSize: number;
  /** The parent in a differencing chain (already opened and verified). */
  readonly parent?: Disk;
  /** The file this disk was opened from. */
  readonly source: ByteSource;
  /**
   * Indexes (ascending) of blocks that may hold non-zero data anywhere in the chain. Blocks not
   * listed read as zero and are never read by the converter. Must not read data, only metadata.
   */
  blocks(): AsyncIterable<number>;
  /**
   * Read virtual bytes [offset, offset+length) into buf (allocated if not given); unallocated
   * parts read as zero or from the parent, honouring sector bitmaps. Length may cross blocks.
   */
  read(offset: number, length: number, buf?: Buffer): Promise<Buffer>;
  /**
   * Optional, finer than blocks(): a test whether virtual [offset, offset+length) may hold
   * non-zero bytes, e.g. from the holes of a sparse image file under allocated blocks (metadata
   * only: SEEK_DATA/SEEK_HOLE). false only when certain. undefined when the disk cannot tell.
   */
  dataFilter?(): Promise<((offset: number, length: number) => boolean) | undefined>;
  /**
   * The local file that holds this disk's bytes and where, for the native data path
   * (convert/native-copy.ts): raw files and devices and fixed VHDs (identity), images whose blocks
   * sit in their file as they are (dynamic VHD, VHDX without parent or pending log), and
   * decorators that do not change the bytes. Anything else leaves it out.
   */
  localFile?(): LocalLayout | undefined;
  /** Facts for `ce info`: allocated bytes, dirty log, parent chain, creator… */
  describe(): DiskDescription;
  close(): Promise<void>;
}

export interface DiskDescription {
  format: FormatName;
  subformat: string;
  virtualSize: number;
  fileSize: number;
  blockSize: number;
  /** Bytes of allocated blocks in this file (not the chain). */
  allocatedBytes?: number;
  /** Paths of the parents, nearest first. */
  parentChain?: string[];
  /** VHDX: a log that needed replay (replayed in memory, the source unchanged). */
  dirtyLog?: boolean;
  /** Format-specific extras (creator, CID, cluster bits, ...). */
  extra?: Record<string, unknown>;
  problems: Problem[];
}

export interface OpenOptions {
  /** Open a related file (parent, flat extent) by the name written in the image, relative to this one. */
  openRelated(nameOrPath: string): Promise<ByteSource>;
  /** Open a parent disk (any format) from a source; used for differencing chains. */
  openParent(src: ByteSource, depth: number): Promise<Disk>;
  /** Chain depth so far (loop protection: DISK_PARENT_LOOP past a limit). */
  depth: number;
}

export interface WriteContext {
  signal?: AbortSignal;
  /** Called with the number of virtual bytes consumed so far (monotonic). */
  onProgress?(virtualBytesDone: number): void;
  /** Reads in flight (default 8). */
  inFlight?: number;
  /** Resume support: the last committed virtual offset to continue after, and a hook to record progress. */
  resumeFrom?: number;
  onCommit?(state: { virtualOffset: number; fileOffset: number }): Promise<void>;
  /** Resume support: read back bytes the interrupted run wrote to the output (e.g. the VHD BAT). */
  readBack?(position: number, length: number): Promise<Buffer>;
}

export interface WriteResult {
  fileSize: number;
  /** Extra files written (monolithicFlat's -flat.vmdk). */
  extraFiles?: string[];
}

/** Options every writer understands; formats ignore what does not apply. */
export interface WriterOptions {
  /** VHDX/VHD block size, VMDK grain size, qcow2 cluster size (bytes). */
  blockSize?: number;
  /** Output virtual size when it must differ from the source (presets that round up). Never smaller. */
  virtualSize?: number;
  /** VMDK adapter type, VHD creator app, etc. */
  extra?: Record<string, unknown>;
  /** For multi-file outputs (monolithicFlat): the final path of the main file, to name extents. */
  outputPath?: string;
  /** For multi-file outputs: create a sink for an extra file next to the output. */
  createSink?(fileName: string): Promise<Sink>;
  /** deflate level for compressed formats (default 1 = Z_BEST_SPEED). */
  compressionLevel?: number;
}

export interface DiskWriter {
  /** The `--to` name: raw, vhd, vhd-fixed, vhdx, vhdx-fixed, vmdk, vmdk-stream, vmdk-flat, qcow2 */
  readonly target: string;
  readonly format: FormatName;
  readonly subformat: string;
  /** Whether the writer can stream to a non-seekable sink (metadata computed up front). */
  readonly streamable: boolean;
  write(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult>;
}

export interface DiskFormatModule {
  readonly name: FormatName;
  /**
   * Detect from content: the first 64 KiB (or less) and the last 1 KiB of the file (VHD fixed has
   * only a footer). Return true only when the magic and basic structure match.
   */
  probe(head: Buffer, tail: Buffer, size: number): boolean;
  open(src: ByteSource, opts: OpenOptions): Promise<Disk>;
  writers: DiskWriter[];
  /** Structural validation for `ce check` beyond what open() already reports. */
  check?(disk: Disk): Promise<Problem[]>;
}
