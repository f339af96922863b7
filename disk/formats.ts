/**
 * The format registry: every format module, content detection, and writer lookup by `--to` name.
 * Detection order matters: formats with a magic at offset 0 first, VHD (which may only have a
 * footer at the end) after them, raw as the fallback.
 */
import { CeError } from '../core/errors.js';
import type { ByteSource, DiskFormatModule, DiskWriter, FormatName } from './types.js';
import { readExact } from './io/file.js';
import { rawFormat } from './raw/index.js';
import { vhdFormat } from './vhd/index.js';
import { vhdxFormat } from './vhdx/index.js';
import { vmdkFormat } from './vmdk/index.js';
import { qcow2Format } from './qcow2/index.js';

export const formats: DiskFormatModule[] = [vhdxFormat, vmdkFormat, qcow2Format, vhdFormat, rawFormat];

const HEAD = 64 * 1024;
const TAIL = 1024;

export function formatModule(name: FormatName): DiskFormatModule {
  const m = formats.find((f) => f.name === name);
  if (!m) throw new CeError('DISK_FORMAT_UNKNOWN', `Unknown format ${name}.`, { hint: `Formats: ${formats.map((f) => f.name).join(', ')}.`, status: 400 });
  return m;
}

/** All `--to` targets, in a stable order. */
export function targets(): string[] {
  return formats.flatMap((f) => f.writers.map((w) => w.target));
}


export function findWriter(target: string): DiskWriter {
  for (const f of formats) {
    const w = f.writers.find((x) => x.target === target);
    if (w) return w;
  }
  throw new CeError('DISK_TARGET_UNKNOWN', `Unknown output format "${target}".`, { hint: `Use one of: ${targets().join(', ')}.`, status: 400 });
}

/** Detect the format of a source from its first 64 KiB and last 1 KiB. */
export async function detectFormat(src: ByteSource): Promise<DiskFormatModule> {
  const headLen = Math.min(HEAD, src.size);
  const tailLen = Math.min(TAIL, src.size);
  const head = headLen ? await readExact(src, 0, headLen) : Buffer.alloc(0);
  const tail = tailLen ? await readExact(src, src.size - tailLen, tailLen) : Buffer.alloc(0);
  for (const f of formats) if (f.probe(head, tail, src.size)) return f;
  return rawFormat;
}
