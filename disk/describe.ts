/**
 * `ce info` and `ce check`: open an image (chain included), describe it, and run the format's
 * structural checks. An image that cannot be opened is reported as one error problem with the
 * error's code, so `ce check` can list it instead of failing.
 */
import { isCeError, toCeError } from '../core/errors.js';
import type { DiskDescription, FormatName, Problem } from './types.js';
import { openDisk } from './open.js';
import { formatModule } from './formats.js';
import { RawDisk } from './raw/disk.js';

export interface ImageInfo extends DiskDescription {
  path: string;
}

export async function describeImage(path: string, opts: { format?: FormatName } = {}): Promise<ImageInfo> {
  const disk = await openDisk(path, opts);
  try {
    const d = disk.describe();
    if (disk instanceof RawDisk && d.allocatedBytes === undefined) {
      const a = await disk.allocatedBytes();
      if (a !== undefined) d.allocatedBytes = a;
    }
    const extra = (await formatModule(disk.format).check?.(disk)) ?? [];
    return { path, ...d, problems: [...d.problems, ...extra] };
  } finally {
    await disk.close();
  }
}

export interface CheckResult {
  path: string;
  ok: boolean;
  format?: string;
  subformat?: string;
  problems: Problem[];
}

export async function checkImage(path: string, opts: { format?: FormatName } = {}): Promise<CheckResult> {
  try {
    const info = await describeImage(path, opts);
    return { path, ok: !info.problems.some((p) => p.severity === 'error'), format: info.format, subformat: info.subformat, problems: info.problems };
  } catch (e) {
    const err = toCeError(e);
    if (!isCeError(e) || err.code === 'SOURCE_NOT_FOUND' || err.code === 'FILE_NOT_FOUND' || err.code === 'PERMISSION_DENIED') throw err;
    const off = (err.details as { offset?: number } | undefined)?.offset;
    return { path, ok: false, problems: [{ code: err.code, message: err.message, severity: 'error', ...(off !== undefined ? { offset: off } : {}) }] };
  }
}
