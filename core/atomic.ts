/**
 * Outputs are written under a temporary name and renamed at the end, so a half-written file
 * never stands under its final name. `<dst>.partial` is the temporary name everywhere
 * (users and the connector recognise it; a resume finds it).
 */
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openSync, fsyncSync, closeSync } from 'node:fs';
import { CeError } from './errors.js';

export function partialPath(dst: string): string {
  return `${dst}.partial`;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export interface AtomicWriteOptions {
  /** Replace an existing final file (default: refuse with OUTPUT_EXISTS). */
  overwrite?: boolean;
  /** Keep the partial file on failure (for --resume); default removes it. */
  keepPartialOnError?: boolean;
  /** Open the partial file without truncating it (resume). */
  resume?: boolean;
  /** fsync the file and its directory (default true). false only for scratch outputs and benchmarks. */
  fsync?: boolean;
}

/**
 * Run `write` against `<dst>.partial`, fsync, rename to `dst`, fsync the directory.
 * On error (or cancel) the partial file is removed unless `keepPartialOnError`.
 */
export async function writeAtomically<T>(
  dst: string,
  write: (fh: FileHandle, tmpPath: string) => Promise<T>,
  opts: AtomicWriteOptions = {},
): Promise<T> {
  if (!opts.overwrite && (await exists(dst))) {
    throw new CeError('OUTPUT_EXISTS', `The output ${dst} exists already.`, {
      hint: 'Choose another name or pass --overwrite.',
      status: 409,
    });
  }
  const tmp = partialPath(dst);
  const fh = await open(tmp, opts.resume ? 'r+' : 'w').catch(async (e: NodeJS.ErrnoException) => {
    if (opts.resume && e.code === 'ENOENT') return open(tmp, 'w');
    throw e;
  });
  let ok = false;
  try {
    const result = await write(fh, tmp);
    if (opts.fsync !== false) await fh.sync();
    await fh.close();
    await rename(tmp, dst);
    if (opts.fsync !== false) fsyncDir(dirname(dst));
    ok = true;
    return result;
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      if (!opts.keepPartialOnError) await rm(tmp, { force: true });
    }
  }
}

/** fsync a directory so a rename survives a crash. Best effort (some file systems refuse). */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* FUSE and some network file systems do not support fsync on directories */
  }
}
