/**
 * Writer `vhd-fixed`: the raw bytes, then the 512-byte footer (type 2, data_offset all ones).
 * File size = virtual size + 512 (what Azure requires). Holes only on local files (see raw/writer.ts).
 */
import type { Disk, Sink, WriteContext, WriterOptions, WriteResult } from '../types.js';
import { outputSize, presizeIfSparse, writeFlatData } from '../raw/writer.js';
import { WriteQueue } from '../convert/write-queue.js';
import { checkVhdSize, makeFooter } from './create.js';

/** `--to vhd-fixed`: a fixed VHD (registered in ./index.ts). */
export async function writeVhdFixed(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
  const size = outputSize(src, opts);
  checkVhdSize(size, false);
  const footer = makeFooter({ type: 'fixed', size, dataOffset: null, creatorApp: opts.extra?.creatorApp as string | undefined });
  const sparse = await presizeIfSparse(sink, opts, ctx, size + 512);
  const q = new WriteQueue(sink);
  await writeFlatData(src, q, size, sparse, ctx);
  await q.write(footer, size);
  await q.drain();
  if (sink.truncate) await sink.truncate(size + 512);
  return { fileSize: size + 512 };
}
