/**
 * `qcow2`: version 3, 64 KiB clusters, uncompressed, 16-bit refcounts. Layout: header cluster, L1,
 * the L2 tables the source may need (from blocks(): metadata only), data clusters appended as
 * non-zero clusters are found, then refcount blocks + table at the end. Every cluster up to the
 * end is in use exactly once, so each refcount is 1 and `qemu-img check` finds no leaks. The
 * header (magic) is written last, after a sync.
 */
import type { Disk, Sink, WriteContext, WriteResult, WriterOptions } from '../types.js';
import { formatError, isPowerOfTwo, roundUp } from '../format-kit/fields.js';
import { writeAllocatedData } from '../format-kit/allocating-writer.js';
import { UNIT, candidateUnits } from '../format-kit/source-units.js';
import { serializeHeaderV3 } from './layout.js';

const COPIED = 0x80000000; // bit 63 (high word): refcount is exactly 1

export async function writeQcow2(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
  if (!sink.seekable) throw formatError('QCOW2', 'SINK_NOT_SEEKABLE', 'The qcow2 writer needs a seekable output.', 'Write to a file.');
  const cluster = opts.blockSize ?? 65536;
  if (!isPowerOfTwo(cluster) || cluster < 4096 || cluster > 2 * 1024 * 1024) throw formatError('QCOW2', 'CLUSTER_SIZE_INVALID', `qcow2 cluster size ${cluster} must be a power of two from 4 KiB to 2 MiB.`);
  const clusterBits = Math.log2(cluster);
  const size = roundUp(Math.max(opts.virtualSize ?? 0, src.virtualSize), 512);
  const l2Entries = cluster / 8;
  const perL1 = cluster * l2Entries;
  const l1Size = Math.ceil(size / perL1);
  const l1Clusters = Math.ceil((l1Size * 8) / cluster);
  const l1Offset = cluster;

  // L2 tables only where the source may have data (so a huge empty disk stays tiny).
  const flags = await candidateUnits(src, Math.min(UNIT, perL1), size);
  const unitsPerL1 = perL1 / Math.min(UNIT, perL1);
  const l2Offset = new Float64Array(l1Size);
  let next = l1Offset + l1Clusters * cluster;
  for (let i = 0; i < l1Size; i++) {
    const any = flags.subarray(i * unitsPerL1, (i + 1) * unitsPerL1).indexOf(1) !== -1;
    if (any) {
      l2Offset[i] = next;
      next += cluster;
    }
  }
  await sink.pwrite(Buffer.alloc(cluster), 0); // header placeholder (no magic) until the end

  const alloc = await writeAllocatedData({ src, sink, outSize: size, cluster, dataStart: next, granule: cluster, ctx, holes: opts.extra?.sparse === true });

  // L2 and L1 tables.
  for (let i = 0; i < l1Size; i++) {
    if (!l2Offset[i]) continue;
    const t = Buffer.alloc(cluster);
    for (let k = 0; k < l2Entries; k++) {
      const c = i * l2Entries + k;
      if (c >= alloc.offsets.length) break;
      const off = alloc.offsets[c] * cluster;
      if (!off) continue;
      t.writeUInt32BE((COPIED | Math.floor(off / 2 ** 32)) >>> 0, k * 8);
      t.writeUInt32BE(off % 2 ** 32, k * 8 + 4);
    }
    await sink.pwrite(t, l2Offset[i]);
  }
  const l1 = Buffer.alloc(l1Clusters * cluster);
  for (let i = 0; i < l1Size; i++) {
    if (!l2Offset[i]) continue;
    l1.writeUInt32BE((COPIED | Math.floor(l2Offset[i] / 2 ** 32)) >>> 0, i * 8);
    l1.writeUInt32BE(l2Offset[i] % 2 ** 32, i * 8 + 4);
  }
  if (l1.length) await sink.pwrite(l1, l1Offset);

  // Refcounts at the end: every cluster [0, total) is used once (16-bit entries).
  const used = alloc.end / cluster;
  const perBlock = cluster / 2;
  let rb = 0, rt = 0, total = used;
  for (;;) {
    const nrb = Math.ceil(total / perBlock);
    const nrt = Math.ceil((nrb * 8) / cluster);
    if (nrb === rb && nrt === rt) break;
    rb = nrb;
    rt = nrt;
    total = used + rb + rt;
  }
  const rbStart = alloc.end;
  const rtStart = rbStart + rb * cluster;
  const blocks = Buffer.alloc(rb * cluster);
  for (let c = 0; c < total; c++) blocks.writeUInt16BE(1, c * 2);
  await sink.pwrite(blocks, rbStart);
  const table = Buffer.alloc(rt * cluster);
  for (let k = 0; k < rb; k++) table.writeBigUInt64BE(BigInt(rbStart + k * cluster), k * 8);
  await sink.pwrite(table, rtStart);
  const fileSize = total * cluster;
  await sink.truncate?.(fileSize);
  await sink.sync?.();
  await sink.pwrite(serializeHeaderV3({ clusterBits, size, l1Size, l1TableOffset: l1Offset, refcountTableOffset: rtStart, refcountTableClusters: rt }), 0);
  return { fileSize };
}
