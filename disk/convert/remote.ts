/**
 * Conversions whose output or source is on an SMB share (`smb://…`), through our SMB 3 client
 * (network/smb). The output is written as `<name>.partial` on the share (after the 2× free-space
 * check), flushed, optionally verified by read-back, and renamed; on failure or cancel the partial
 * file is deleted. Hashes are of the bytes sent; when a writer wrote out of order the finished file
 * is read back over SMB and hashed.
 */
import { createHash } from 'node:crypto';
import { CeError, throwIfCancelled, toCeError } from '../../core/errors.js';
import { ProgressMeter } from '../../core/progress.js';
import type { ByteSource, Sink } from '../types.js';
import { isSmbUrl, openDiskAt } from '../open-any.js';
import { convert, planConversion, writeDisk, type ConvertOptions, type ConvertResult } from './engine.js';
import { HashingSink, type HashAlgo } from './hash-sink.js';
import { TarGzSink } from './tar-gz-sink.js';
import { isBlockDevice, writeToDevice } from './device.js';

/** Convert between any local path, block device and smb:// URL (the entry point of the CLI and jobs). */
export async function convertAny(src: string, dst: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  if (isSmbUrl(dst)) return convertToSmb(src, dst, opts);
  if (await isBlockDevice(dst)) return writeToDevice(src, dst, opts);
  return convert(src, dst, opts);
}

/** Hash every byte of a ByteSource (SMB read-back of an output written out of order). */
export async function hashSource(src: ByteSource, algos: HashAlgo[], signal?: AbortSignal): Promise<Record<string, string>> {
  const hs = algos.map((a) => [a, createHash(a)] as const);
  const buf = Buffer.allocUnsafe(8 << 20);
  for (let pos = 0; pos < src.size; ) {
    throwIfCancelled(signal);
    const n = await src.pread(buf.subarray(0, Math.min(buf.length, src.size - pos)), pos);
    if (!n) break;
    for (const [, h] of hs) h.update(buf.subarray(0, n));
    pos += n;
  }
  return Object.fromEntries(hs.map(([a, h]) => [a, h.digest('hex')]));
}

/** Convert a local or SMB source into an image on an SMB share. */
export async function convertToSmb(srcPath: string, dstUrl: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const t0 = performance.now();
  // The SMB client is loaded only for smb:// outputs (start-up time of local conversions).
  const { openSmbSink, openSmbSource } = await import('../../network/smb/api.js');
  const { parseSmbUrl } = await import('../../network/smb/url.js');
  parseSmbUrl(dstUrl); // typed error on a bad URL before anything is opened
  const disk = await openDiskAt(srcPath, { format: opts.format, smb: opts.smbSource ?? opts.smb });
  try {
    const plan = planConversion(disk, dstUrl, opts);
    if (plan.writer.target === 'vmdk-flat') {
      throw new CeError('DISK_SMB_MULTI_FILE', 'A monolithicFlat VMDK is two files; writing it to SMB is not supported.', {
        hint: 'Use --to vmdk-stream for an SMB target, or convert to a local path first.',
        status: 400,
      });
    }
    if (opts.resume) {
      throw new CeError('DISK_SMB_NO_RESUME', '--resume is for local outputs; an SMB output restarts from the beginning.', { status: 400 });
    }
    const outSize = plan.writerOptions.virtualSize ?? disk.virtualSize;
    const algos = opts.hash ?? [];
    const meter = opts.onProgress ? new ProgressMeter(opts.onProgress, outSize, 'convert', opts.progressIntervalMs) : undefined;
    const sink = await openSmbSink(dstUrl, { ...opts.smb, size: outSize, overwrite: opts.overwrite, verify: opts.verify, signal: opts.signal });
    let committed = false;
    try {
      const hsink = algos.length ? new HashingSink(sink, algos) : undefined;
      const base: Sink = hsink ?? sink;
      const tar = plan.tarGz ? new TarGzSink(base, 'disk.raw', outSize) : undefined;
      const res = await writeDisk(disk, tar ?? base, plan, { signal: opts.signal, inFlight: opts.inFlight, meter });
      const fileSize = tar ? await tar.finish() : res.fileSize;
      throwIfCancelled(opts.signal);
      const commit = await sink.commit();
      committed = true;
      let hashes = hsink?.digests(fileSize) ?? undefined;
      let hashMode: 'stream' | 'file' | undefined = hashes ? 'stream' : undefined;
      if (algos.length && !hashes) {
        const back = await openSmbSource(dstUrl, opts.smb);
        try {
          hashes = await hashSource(back, algos, opts.signal);
          hashMode = 'file';
        } finally {
          await back.close();
        }
      }
      meter?.flush();
      return {
        source: { path: srcPath, format: disk.format, subformat: disk.subformat, virtualSize: disk.virtualSize },
        output: { path: dstUrl, target: plan.writer.target, format: plan.tarGz ? 'tar.gz' : plan.writer.format, subformat: plan.writer.subformat, fileSize: commit.size, virtualSize: outSize },
        ...(opts.preset ? { preset: opts.preset } : {}),
        notes: [...plan.notes, ...(commit.verified ? ['read back over SMB and verified before the rename'] : [])],
        ...(hashes ? { hashes, hashMode } : {}),
        seconds: Math.round(performance.now() - t0) / 1000,
      };
    } finally {
      if (!committed) await sink.close(); // deletes the partial file on the share
    }
  } catch (e) {
    throw toCeError(e);
  } finally {
    await disk.close();
  }
}
