/**
 * `openDisk(pathOrSource)`: detect the format, open it, and open differencing parents through
 * the same path (any format), with loop protection: a file already in the chain, or a chain
 * deeper than MAX_CHAIN, is DISK_PARENT_LOOP.
 */
import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { CeError } from '../core/errors.js';
import type { ByteSource, Disk, FormatName, OpenOptions } from './types.js';
import { FileSource } from './io/file.js';
import { detectFormat, formatModule } from './formats.js';
import { RawDisk } from './raw/disk.js';

export const MAX_CHAIN = 64;

export interface OpenDiskOptions {
  /** Skip detection (like qemu-img -f). */
  format?: FormatName;
  /** Raw block size (default 1 MiB). */
  rawBlockSize?: number;
}

async function identity(src: ByteSource): Promise<string> {
  if (src instanceof FileSource) return realpath(src.name).catch(() => resolve(src.name));
  return src.name;
}

export async function openDisk(pathOrSource: string | ByteSource, opts: OpenDiskOptions = {}): Promise<Disk> {
  const src = typeof pathOrSource === 'string' ? await FileSource.open(pathOrSource) : pathOrSource;
  const chain = new Set<string>();
  try {
    return await openInChain(src, 0, chain, opts, opts.format);
  } catch (e) {
    await src.close().catch(() => undefined);
    throw e;
  }
}

async function openInChain(src: ByteSource, depth: number, chain: Set<string>, opts: OpenDiskOptions, format?: FormatName): Promise<Disk> {
  const id = await identity(src);
  if (chain.has(id) || depth > MAX_CHAIN) {
    throw new CeError('DISK_PARENT_LOOP', `${src.name}: the parent chain loops back to ${id}${depth > MAX_CHAIN ? ` or is deeper than ${MAX_CHAIN}` : ''}.`, {
      hint: 'A differencing disk names itself or a child as its parent: the chain is damaged.',
      details: { chain: [...chain, id] },
    });
  }
  chain.add(id);
  const mod = format ? formatModule(format) : await detectFormat(src);
  if (mod.name === 'raw') return new RawDisk(src, opts.rawBlockSize);
  const oo: OpenOptions = {
    depth,
    openRelated: async (nameOrPath: string) => FileSource.open(isAbsolute(nameOrPath) ? nameOrPath : resolve(dirname(src.name), nameOrPath)),
    openParent: async (psrc: ByteSource, d: number) => {
      try {
        return await openInChain(psrc, d, chain, opts);
      } catch (e) {
        await psrc.close().catch(() => undefined);
        throw e;
      }
    },
  };
  return mod.open(src, oo);
}
