/**
 * Whole-file copies between a local file and a share (`ce smb put/get`, benchmarks): streamed in
 * I/O-size blocks with reads in flight on both sides, all-zero blocks skipped (the new file reads
 * as zero there; the size is set at the end), local outputs written atomically (core/atomic.ts).
 */
import { FileSource, FileSink, truncated } from '../../disk/io/file.js';
import { writeAtomically } from '../../core/atomic.js';
import { throwIfCancelled } from '../../core/errors.js';
import type { OpenWriteOptions, SmbConnectOptions } from './api.js';
import type { SmbSink } from './sink.js';
import type { SmbSource } from './source.js';
import { ioBuffer } from './io-buffer.js';

const BLOCK = 8 * 1024 * 1024;
const ZERO = Buffer.alloc(BLOCK);

export interface TransferResult {
  url: string;
  path: string;
  size: number;
  seconds: number;
  bytesPerSecond: number;
  verified?: boolean;
  dialect?: string;
}

export async function putFile(
  local: string,
  url: string,
  opts: Omit<OpenWriteOptions, 'onProgress' | 'size'> & { onProgress?(done: number, total: number): void },
  open: (url: string, o: OpenWriteOptions) => Promise<SmbSink>,
): Promise<TransferResult> {
  const t0 = performance.now();
  const src = await FileSource.open(local);
  try {
    const size = src.size;
    const sink = await open(url, { ...opts, size, onProgress: undefined });
    try {
      // A ring of buffers: block i is read into slot i % RING while earlier slots are on the wire
      // (pwriteDirect: no copy; a slot is reused once the server acknowledged it).
      // Encrypted: the encryption worker holds its own output slots and garbage, so keep less in flight (RSS).
      const RING = sink.encrypted ? 2 : 4;
      const slots = Array.from({ length: RING }, () => ({ buf: ioBuffer(BLOCK), busy: Promise.resolve() as Promise<void> }));
      for (let pos = 0, i = 0; pos < size; pos += BLOCK, i++) {
        throwIfCancelled(opts.signal);
        const slot = slots[i % RING]!;
        await slot.busy;
        const n = Math.min(BLOCK, size - pos);
        const b = slot.buf.subarray(0, n);
        const got = await src.pread(b, pos);
        if (got !== n) throw truncated(local, pos, n, size);
        if (!b.equals(ZERO.subarray(0, n))) {
          slot.busy = sink.pwriteDirect(b, pos);
          slot.busy.catch(() => undefined); // surfaced by the next await of this slot or by commit()
        }
        opts.onProgress?.(pos + n, size);
      }
      for (const s of slots) await s.busy;
      await sink.truncate(size);
      const r = await sink.commit();
      const seconds = (performance.now() - t0) / 1000;
      return { url, path: r.path, size, seconds, bytesPerSecond: Math.round(size / seconds), verified: r.verified };
    } finally {
      await sink.close();
    }
  } finally {
    await src.close();
  }
}

export async function getFile(
  url: string,
  local: string,
  opts: SmbConnectOptions & { overwrite?: boolean; onProgress?(done: number, total: number): void },
  open: (url: string, o: SmbConnectOptions) => Promise<SmbSource>,
): Promise<TransferResult> {
  const t0 = performance.now();
  const src = await open(url, opts);
  try {
    const size = src.size;
    await writeAtomically(
      local,
      async (fh) => {
        const sink = FileSink.fromHandle(local, fh);
        const depth = 4;
        const bufs = Array.from({ length: depth }, () => ioBuffer(BLOCK));
        const reads: Array<Promise<number>> = [];
        let nextRead = 0;
        const issue = () => {
          if (nextRead >= size) return;
          const b = bufs[reads.length % depth]!;
          reads.push(src.pread(b.subarray(0, Math.min(BLOCK, size - nextRead)), nextRead));
          nextRead += BLOCK;
        };
        for (let k = 0; k < depth - 1; k++) issue();
        for (let pos = 0, i = 0; pos < size; pos += BLOCK, i++) {
          const n = await reads[i]!;
          const b = bufs[i % depth]!.subarray(0, n);
          if (!b.equals(ZERO.subarray(0, n))) await sink.pwrite(b, pos);
          issue(); // after the write: the buffer of block i is free again
          opts.onProgress?.(pos + n, size);
        }
        await sink.truncate(size);
      },
      { overwrite: opts.overwrite },
    );
    const seconds = (performance.now() - t0) / 1000;
    return { url: src.name, path: local, size, seconds, bytesPerSecond: Math.round(size / seconds) };
  } finally {
    await src.close();
  }
}
