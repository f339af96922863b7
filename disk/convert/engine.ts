/**
 * The conversion engine: `reader → decorators → DiskWriter → Sink`.
 *   reader      openDisk (format detection, differencing chains)
 *   decorators  ZeroScanDisk (exact allocation, only for sequential sinks fed from raw),
 *               ReadAheadDisk (N reads in flight, cancellation, progress)
 *   writer      from the registry by `--to`, after the preset's rules
 *   sink        HashingSink (md5/sha256 of the output bytes) → [TarGzSink] → FileSink on <dst>.partial
 * The output is renamed into place at the end (core/atomic.ts); on failure or cancel the partial
 * file is removed, unless `resume` is set: then it stays with its state file for a later --resume.
 */
import { realpath, rm, rename, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { CeError, throwIfCancelled, toCeError } from '../../core/errors.js';
import { partialPath, writeAtomically } from '../../core/atomic.js';
import { ProgressMeter, type ProgressListener } from '../../core/progress.js';
import type { Disk, DiskWriter, FormatName, Sink, WriteContext, WriterOptions } from '../types.js';
import { FileSink, FileSource } from '../io/file.js';
import { openDiskAt } from '../open-any.js';
import type { SmbConnectOptions } from '../../network/smb/api.js';
import { findWriter } from '../formats.js';
import { findPreset, type PresetPlan } from '../presets.js';
import { ReadAheadDisk } from './read-ahead.js';
import { ZeroScanDisk } from './zero-scan.js';
import { HashingSink, hashFile, type HashAlgo } from './hash-sink.js';
import { TarGzSink } from './tar-gz-sink.js';
import { loadState, removeState, sameJob, saveState, type ResumeState } from './resume-state.js';

export interface ConvertOptions {
  /** Credentials and security options for smb:// sources and targets (network/smb). */
  smb?: SmbConnectOptions;
  /** For an SMB source when the target is on another share with other credentials (default: smb). */
  smbSource?: SmbConnectOptions;
  /** SMB targets: read the output back and compare with what was sent before the rename. */
  verify?: boolean;
  /** Output format (`--to`); optional with a preset (its first format). */
  to?: string;
  preset?: string;
  /** Source format, skipping detection. */
  format?: FormatName;
  hash?: HashAlgo[];
  overwrite?: boolean;
  /**
   * Continue an interrupted conversion from its state file, keep the partial output on failure,
   * and write resume checkpoints (each one fsyncs the output) so that a later --resume can continue.
   */
  resume?: boolean;
  /**
   * Write resume checkpoints even without `resume` (default: same as `resume`). Jobs set it: a
   * crash or reboot leaves the partial output and its state for the resumed job; a failure or
   * cancel still removes them.
   */
  checkpoints?: boolean;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Least time between progress events (default 250 ms; 0 = every block). */
  progressIntervalMs?: number;
  inFlight?: number;
  /** Holes in a local output file: default true, except when the preset forbids them. */
  sparse?: boolean;
  virtualSize?: number;
  blockSize?: number;
  compressionLevel?: number;
  extra?: Record<string, unknown>;
  /** fsync the output before the rename (default true; false like `qemu-img -t unsafe`, for scratch outputs). */
  fsync?: boolean;
  /** Wrap a raw output as disk.raw in a gzip-compressed tar (implied by --preset gcp with a .tar.gz name). */
  tarGz?: boolean;
}

export interface ConvertResult {
  source: { path: string; format: string; subformat: string; virtualSize: number };
  output: { path: string; target: string; format: string; subformat: string; fileSize: number; virtualSize: number; extraFiles?: string[] };
  preset?: string;
  notes: string[];
  hashes?: Record<string, string>;
  /** 'stream' when hashed while writing, 'file' when the finished file was read back (patched metadata, resume). */
  hashMode?: 'stream' | 'file';
  resumedFrom?: number;
  /** Who moved the data to a local file: the native addon (disk/native) or the JS path. */
  dataPath?: 'native' | 'js';
  seconds: number;
}

export interface Plan {
  writer: DiskWriter;
  preset?: PresetPlan;
  writerOptions: WriterOptions;
  /** Wrap the raw output as disk.raw in a .tar.gz (GCP). */
  tarGz: boolean;
  notes: string[];
}

/** Choose the writer and options from --to/--preset, checking the preset's rules against the source. */
export function planConversion(disk: Disk, dst: string, opts: ConvertOptions): Plan {
  let target = opts.to;
  let preset: PresetPlan | undefined;
  if (opts.preset) {
    preset = findPreset(opts.preset).plan({ to: opts.to, disk, dst });
    target = preset.target;
  }
  if (!target) throw new CeError('DISK_TARGET_MISSING', 'No output format given.', { hint: 'Pass --to <format> or --preset <platform>.', status: 400 });
  const writer = findWriter(target);
  const virtualSize = opts.virtualSize ?? preset?.virtualSize;
  if (virtualSize !== undefined && virtualSize < disk.virtualSize) {
    throw new CeError('DISK_SIZE_SHRINK', `The output size ${virtualSize} is smaller than the source's ${disk.virtualSize}.`, { status: 400 });
  }
  const sparse = preset?.sparse === false ? false : opts.sparse !== false;
  const writerOptions: WriterOptions = {
    ...(virtualSize !== undefined ? { virtualSize } : {}),
    ...(opts.blockSize !== undefined ? { blockSize: opts.blockSize } : {}),
    ...(opts.compressionLevel !== undefined ? { compressionLevel: opts.compressionLevel } : {}),
    extra: { ...opts.extra, sparse },
  };
  const tarGz = preset?.tarGz ?? opts.tarGz === true;
  if (tarGz && writer.target !== 'raw') {
    throw new CeError('DISK_TAR_GZ_RAW_ONLY', `A .tar.gz output holds a raw disk.raw; --to ${writer.target} cannot be wrapped.`, { status: 400 });
  }
  return { writer, preset, writerOptions, tarGz, notes: [...(preset?.notes ?? [])] };
}

export interface StreamOptions {
  signal?: AbortSignal;
  inFlight?: number;
  meter?: ProgressMeter;
  resumeFrom?: number;
  onCommit?: WriteContext['onCommit'];
  readBack?: WriteContext['readBack'];
}

/**
 * Reads in flight when the caller does not say: a local source is read from the page cache or a
 * local device, where each read is a CPU copy, so more reads than cores only make the threads take
 * turns (measured on 2 cores, raw→vhdx: 8 in flight 1.31 s and 1.54 s of CPU, 4 in flight 0.89 s
 * and 1.19 s); a remote (SMB) source hides its round trips behind 8.
 */
export function defaultInFlight(disk: Disk): number {
  if (!(disk.source instanceof FileSource)) return 8;
  return Math.min(8, Math.max(2, 2 * availableParallelism()));
}

/** Run a writer over a decorated source into any Sink (file, SMB, pipe). */
export async function writeDisk(disk: Disk, sink: Sink, plan: Plan, s: StreamOptions = {}) {
  let src: Disk = disk;
  s = { ...s, inFlight: s.inFlight ?? defaultInFlight(disk) };
  const localFile = sink instanceof FileSink || (sink instanceof HashingSink && sink.inner instanceof FileSink);
  const wo: WriterOptions = { ...plan.writerOptions, extra: { ...plan.writerOptions.extra, sparse: localFile && plan.writerOptions.extra?.sparse === true } };
  if (!sink.seekable && disk.format === 'raw' && plan.writer.format !== 'raw' && plan.writer.subformat !== 'fixed') {
    // The writer must know the allocation before writing forward: scan a raw source for zeros once.
    src = new ZeroScanDisk(src, { inFlight: s.inFlight, signal: s.signal });
  }
  const meter = s.meter;
  src = new ReadAheadDisk(src, { inFlight: s.inFlight, signal: s.signal, onRead: (end) => meter?.set(Math.max(meter.bytesDone, end)) });
  const ctx: WriteContext = {
    signal: s.signal,
    inFlight: s.inFlight,
    onProgress: (done) => meter?.set(Math.max(meter.bytesDone, done)),
    ...(s.resumeFrom ? { resumeFrom: s.resumeFrom } : {}),
    ...(s.onCommit ? { onCommit: s.onCommit } : {}),
    ...(s.readBack ? { readBack: s.readBack } : {}),
  };
  const result = await plan.writer.write(src, sink, wo, ctx);
  throwIfCancelled(s.signal);
  return result;
}

export async function convert(srcPath: string, dst: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const t0 = performance.now();
  dst = resolve(dst);
  const disk = await openDiskAt(srcPath, { format: opts.format, smb: opts.smbSource ?? opts.smb });
  const extraPartials: string[] = [];
  const tmp = partialPath(dst);
  let ok = false;
  try {
    const plan = planConversion(disk, dst, opts);
    if (resolve(srcPath) === dst) throw new CeError('DISK_OUTPUT_IS_SOURCE', 'The output would overwrite the source.', { status: 400 });
    const srcInfo = disk.source instanceof FileSource ? disk.source : undefined;
    const jobKey = JSON.stringify({ wo: { ...plan.writerOptions }, tarGz: plan.tarGz });
    const identity = {
      v: 1 as const,
      source: { path: await realpath(srcPath).catch(() => srcPath), size: disk.source.size, mtimeMs: srcInfo?.mtimeMs ?? 0 },
      target: plan.writer.target,
      key: jobKey,
    };
    let resumeFrom = 0;
    if (opts.resume) {
      const st = await loadState(tmp);
      // Only when the partial output is still there with at least what was committed.
      const partialSize = await stat(tmp).then((x) => x.size, () => -1);
      if (st && sameJob(st, identity) && partialSize >= st.fileOffset) resumeFrom = st.virtualOffset;
    }
    const algos = opts.hash ?? [];
    const meter = opts.onProgress ? new ProgressMeter(opts.onProgress, plan.writerOptions.virtualSize ?? disk.virtualSize, 'convert', opts.progressIntervalMs) : undefined;
    if (resumeFrom && meter) meter.set(resumeFrom);

    const out = await writeAtomically(
      dst,
      async (fh) => {
        const durable = opts.fsync !== false;
        // Durable outputs write their bulk data with O_DIRECT: no page-cache copy, no writeback at the fsync.
        const direct = durable && process.env.CE_DIRECT_IO !== 'off';
        const file = FileSink.fromHandle(tmp, fh, { durable, direct });
        // The sink's own O_DIRECT descriptor closes with it, success or not (fh is writeAtomically's).
        try {
          const hsink = algos.length ? new HashingSink(file, algos) : undefined;
          if (hsink && resumeFrom) hsink.invalidate();
          const base: Sink = hsink ?? file;
          const outSize = plan.writerOptions.virtualSize ?? disk.virtualSize;
          const tar = plan.tarGz ? new TarGzSink(base, 'disk.raw', outSize) : undefined;
          const wo = { ...plan.writerOptions, outputPath: dst, createSink: async (name: string) => {
            const p = join(dirname(dst), `${name}.partial`);
            extraPartials.push(p);
            return FileSink.open(p, { durable, direct });
          } };
          const res = await writeDisk(disk, tar ?? base, { ...plan, writerOptions: wo }, {
            signal: opts.signal,
            inFlight: opts.inFlight,
            meter,
            resumeFrom,
            onCommit: tar || !(opts.checkpoints ?? opts.resume)
              ? undefined
              : async (c) => saveState(tmp, { ...identity, virtualOffset: c.virtualOffset, fileOffset: c.fileOffset, savedAt: new Date().toISOString() } satisfies ResumeState),
            readBack: async (position, length) => {
              const b = Buffer.alloc(length);
              await fh.read(b, 0, length, position);
              return b;
            },
          });
          const fileSize = tar ? await tar.finish() : res.fileSize;
          let hashes: Record<string, string> | undefined;
          let hashMode: 'stream' | 'file' | undefined;
          if (hsink) {
            const d = hsink.digests(fileSize);
            if (d) {
              hashes = d;
              hashMode = 'stream';
            } else {
              if (durable) await fh.sync();
              hashes = await hashFile(tmp, algos);
              hashMode = 'file';
            }
          }
          meter?.flush();
          return { res, fileSize, hashes, hashMode, dataPath: file.dataPath };
        } finally {
          await file.close();
        }
      },
      { overwrite: opts.overwrite, resume: resumeFrom > 0, keepPartialOnError: opts.resume, fsync: opts.fsync },
    );
    for (const p of extraPartials) await rename(p, p.replace(/\.partial$/, ''));
    await removeState(tmp);
    ok = true;
    return {
      source: { path: srcPath, format: disk.format, subformat: disk.subformat, virtualSize: disk.virtualSize },
      output: {
        path: dst,
        target: plan.writer.target,
        format: plan.tarGz ? 'tar.gz' : plan.writer.format,
        subformat: plan.writer.subformat,
        fileSize: out.fileSize,
        virtualSize: plan.writerOptions.virtualSize ?? disk.virtualSize,
        ...(out.res.extraFiles ? { extraFiles: out.res.extraFiles } : {}),
      },
      ...(opts.preset ? { preset: opts.preset } : {}),
      notes: plan.notes,
      ...(out.hashes ? { hashes: out.hashes, hashMode: out.hashMode } : {}),
      ...(resumeFrom ? { resumedFrom: resumeFrom } : {}),
      dataPath: out.dataPath,
      seconds: Math.round(performance.now() - t0) / 1000,
    };
  } catch (e) {
    throw toCeError(e);
  } finally {
    if (!ok && !opts.resume) {
      await removeState(tmp);
      for (const p of extraPartials) await rm(p, { force: true });
    }
    await disk.close();
  }
}

/** Convert to a forward-only sink (stdout, a pipe): no partial file, no resume. */
export async function convertToSink(srcPath: string, sink: Sink, opts: ConvertOptions = {}): Promise<Omit<ConvertResult, 'output'> & { output: { target: string; fileSize: number } }> {
  const t0 = performance.now();
  const disk = await openDiskAt(srcPath, { format: opts.format, smb: opts.smbSource ?? opts.smb });
  try {
    const plan = planConversion(disk, sink.name, { ...opts, preset: opts.preset });
    const algos = opts.hash ?? [];
    const hsink = algos.length ? new HashingSink(sink, algos) : undefined;
    const meter = opts.onProgress ? new ProgressMeter(opts.onProgress, disk.virtualSize, 'convert', opts.progressIntervalMs) : undefined;
    const res = await writeDisk(disk, hsink ?? sink, plan, { signal: opts.signal, inFlight: opts.inFlight, meter });
    const hashes = hsink?.digests(res.fileSize) ?? undefined;
    return {
      source: { path: srcPath, format: disk.format, subformat: disk.subformat, virtualSize: disk.virtualSize },
      output: { target: plan.writer.target, fileSize: res.fileSize },
      notes: plan.notes,
      ...(hashes ? { hashes, hashMode: 'stream' as const } : {}),
      seconds: Math.round(performance.now() - t0) / 1000,
    };
  } finally {
    await disk.close();
  }
}
