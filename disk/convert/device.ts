/**
 * Writing a disk onto a block device (the target disk attached to the CE VM). A device cannot be
 * written under a temporary name, so the rules differ from files: the device must be at least the
 * virtual size, every byte of the virtual size is written (unallocated ranges as zeros: the device
 * may hold old data), the write is flushed with fsync, and a failure is reported with how far it got.
 */
import { open, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { CeError, throwIfCancelled, toCeError } from '../../core/errors.js';
import { ProgressMeter } from '../../core/progress.js';
import { FileSource } from '../io/file.js';
import { openDiskAt } from '../open-any.js';
import type { ConvertOptions } from './engine.js';

const CHUNK = 8 << 20;

export async function isBlockDevice(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isBlockDevice(),
    () => false,
  );
}

export interface DeviceWriteResult {
  source: { path: string; format: string; subformat: string; virtualSize: number };
  output: { path: string; target: 'raw'; format: 'raw'; subformat: 'device'; fileSize: number; virtualSize: number };
  notes: string[];
  seconds: number;
}

export async function writeToDevice(srcPath: string, device: string, opts: ConvertOptions = {}): Promise<DeviceWriteResult> {
  const t0 = performance.now();
  if (!(await isBlockDevice(device))) throw new CeError('DEVICE_NOT_BLOCK', `${device} is not a block device.`, { hint: 'Give the device path of the attached target disk.', status: 400 });
  if (opts.to && opts.to !== 'raw') throw new CeError('DEVICE_RAW_ONLY', 'A block device takes the raw disk.', { hint: 'Use --to raw.', status: 400 });
  const disk = await openDiskAt(srcPath, { format: opts.format, smb: opts.smbSource ?? opts.smb });
  let written = 0;
  try {
    const probe = await FileSource.open(device);
    const deviceSize = probe.size;
    await probe.close();
    if (deviceSize < disk.virtualSize) {
      throw new CeError('DEVICE_TOO_SMALL', `${device} has ${deviceSize} bytes; the disk needs ${disk.virtualSize}.`, { hint: 'Attach a larger target disk.', status: 422, details: { deviceSize, virtualSize: disk.virtualSize } });
    }
    const meter = opts.onProgress ? new ProgressMeter(opts.onProgress, disk.virtualSize, 'write device', opts.progressIntervalMs) : undefined;
    const fh = await open(device, constants.O_WRONLY);
    try {
      // Two buffers: read the next chunk while the previous one is written.
      const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
      let pending: Promise<unknown> = Promise.resolve();
      for (let off = 0, i = 0; off < disk.virtualSize; off += CHUNK, i ^= 1) {
        throwIfCancelled(opts.signal);
        const len = Math.min(CHUNK, disk.virtualSize - off);
        const data = await disk.read(off, len, bufs[i]!.subarray(0, len));
        await pending;
        const at = off;
        pending = fh.write(data, 0, len, at).then(() => {
          written = at + len;
          meter?.set(written);
        });
      }
      await pending;
      await fh.sync();
      meter?.flush();
    } finally {
      await fh.close();
    }
    return {
      source: { path: srcPath, format: disk.format, subformat: disk.subformat, virtualSize: disk.virtualSize },
      output: { path: device, target: 'raw', format: 'raw', subformat: 'device', fileSize: deviceSize, virtualSize: disk.virtualSize },
      notes: deviceSize > disk.virtualSize ? [`the device is ${deviceSize - disk.virtualSize} bytes larger than the disk; the rest was left as it was`] : [],
      seconds: Math.round(performance.now() - t0) / 1000,
    };
  } catch (e) {
    const err = toCeError(e);
    if (written > 0 && err.code !== 'CANCELLED') {
      throw new CeError(err.code, `${err.message} (the device was written up to byte ${written}; it is not usable until a publish completes)`, { hint: err.hint, status: err.status, cause: e });
    }
    throw err;
  } finally {
    await disk.close();
  }
}
