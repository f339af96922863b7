/**
 * `vmdk-flat`: monolithicFlat, what a vSphere datastore accepts (hosted sparse types do not power on
 * in ESXi, §3.3): a text descriptor (the main output) and `<name>-flat.vmdk` with the raw bytes,
 * created through WriterOptions.createSink next to the output.
 */
import type { Disk, Sink, WriteContext, WriteResult, WriterOptions } from '../types.js';
import { throwIfCancelled } from '../../core/errors.js';
import { formatError } from '../format-kit/fields.js';
import { BufferPool, mapOrdered } from '../format-kit/ordered.js';
import { UNIT, candidateUnits, readClamped } from '../format-kit/source-units.js';
import { ZERO, isZero } from '../format-kit/zero.js';
import { SECTOR, buildDescriptor } from './layout.js';
import { WriteWindow } from '../format-kit/write-window.js';
import { capacitySectors, extentName } from './writer-sparse.js';

export function flatName(descriptorName: string): string {
  return descriptorName.replace(/(\.vmdk)?$/i, '-flat.vmdk');
}

export async function writeVmdkFlat(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
  if (!opts.createSink) throw formatError('VMDK', 'OPTION_INVALID', 'vmdk-flat writes two files and needs WriterOptions.createSink.', 'Write to a directory on a file system or share.');
  const capacity = capacitySectors(src, opts);
  const size = capacity * SECTOR;
  const name = extentName(opts, sink);
  const extent = flatName(name);
  const flat = await opts.createSink(extent);
  try {
    const flags = await candidateUnits(src, UNIT, size);
    const pool = new BufferPool(UNIT);
    const units = Math.ceil(size / UNIT);
    // Holes only where the engine allows them (extra.sparse === true: local files); else every zero byte is written.
    const holes = opts.extra?.sparse === true && flat.seekable && !!flat.truncate;
    const win = new WriteWindow(flat, ctx.inFlight ?? 8);
    const list = (function* () { for (let u = 0; u < units; u++) if (flags[u] || !holes) yield u; })();
    for await (const { u, buf } of mapOrdered(list, ctx.inFlight ?? 8, async (u) => {
      throwIfCancelled(ctx.signal);
      return { u, buf: flags[u] ? await readClamped(src, u * UNIT, pool.get()) : undefined };
    })) {
      const len = Math.min(UNIT, size - u * UNIT);
      let done: Promise<void> | undefined;
      if (buf && !(holes && isZero(buf.subarray(0, len)))) done = (await win.write(buf.subarray(0, len), u * UNIT)).done;
      else if (!holes) await win.write(ZERO.subarray(0, len), u * UNIT);
      if (buf) {
        if (done) void done.then(() => pool.put(buf));
        else pool.put(buf);
      }
      ctx.onProgress?.(Math.min(size, (u + 1) * UNIT));
    }
    await win.drain();
    await flat.truncate?.(size);
    await flat.sync?.();
  } finally {
    await flat.close();
  }
  const text = Buffer.from(buildDescriptor({ createType: 'monolithicFlat', extentLine: `RW ${capacity} FLAT "${extent}" 0`, sectors: capacity, adapterType: opts.extra?.adapterType as string | undefined }), 'utf8');
  await sink.pwrite(text, 0);
  await sink.truncate?.(text.length);
  ctx.onProgress?.(size);
  return { fileSize: text.length, extraFiles: [extent] };
}
