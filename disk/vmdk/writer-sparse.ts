/**
 * `vmdk`: hosted monolithicSparse (version 1, redundant GD, QEMU's layout: header, descriptor at
 * sector 1 (20 sectors, spare room because VirtualBox rewrites it in place), RGD + GTs, GD + GTs,
 * grains from `overHead`). Zero grains stay unallocated (GTE 0). The header is written with a
 * lowercase magic first and made valid last (open-vmdk's writer-safety trick, §3.3).
 */
import { basename } from 'node:path';
import type { Disk, Sink, WriteContext, WriteResult, WriterOptions } from '../types.js';
import { formatError, roundUp } from '../format-kit/fields.js';
import { writeAllocatedData } from '../format-kit/allocating-writer.js';
import { FLAG_NL_DETECT, FLAG_RGD, SECTOR, buildDescriptor, serializeSparseHeader, type SparseHeader } from './layout.js';

export const GRAIN_SECTORS = 128; // 64 KiB
export const GTES = 512;
export const DESCRIPTOR_SECTORS = 20;
const MAX_SPARSE = 2 * 1024 ** 4 - 64 * 1024; // hosted sparse extents hold at most 2 TiB

export function extentName(opts: WriterOptions, sink: Sink, fallback = 'disk.vmdk'): string {
  return basename(opts.outputPath ?? sink.name ?? fallback).replace(/\.partial$/, '') || fallback;
}

export function capacitySectors(src: Disk, opts: WriterOptions): number {
  // §3.3: capacity in sectors; a size that is not a multiple of 512 is rounded up.
  const sectors = Math.ceil(Math.max(opts.virtualSize ?? 0, src.virtualSize) / SECTOR);
  // "RW 0 SPARSE" is rejected by QEMU ("Unsupported image type") and by VMware imports (qemu gitlab #2532).
  if (sectors === 0) throw formatError('VMDK', 'SIZE_ZERO', 'The disk is empty (0 bytes); a VMDK extent needs at least one sector.', 'Check the source.');
  return sectors;
}

export async function writeVmdkSparse(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
  if (!sink.seekable) throw formatError('VMDK', 'SINK_NOT_SEEKABLE', 'The monolithicSparse writer needs a seekable output.', 'Use vmdk-stream for a stream.');
  const capacity = capacitySectors(src, opts);
  if (capacity * SECTOR > MAX_SPARSE) throw formatError('VMDK', 'SIZE_TOO_LARGE', `A sparse VMDK extent holds at most 2 TiB; the disk has ${capacity * SECTOR} bytes.`, 'Use vmdk-flat.');
  const gtCount = Math.ceil(capacity / (GTES * GRAIN_SECTORS));
  const gtSectors = (GTES * 4) / SECTOR;
  const gdSectors = Math.ceil((gtCount * 4) / SECTOR);
  const rgdOffset = 1 + DESCRIPTOR_SECTORS;
  const rgtStart = rgdOffset + gdSectors;
  const gdOffset = rgtStart + gtCount * gtSectors;
  const gtStart = gdOffset + gdSectors;
  const overHead = roundUp(gtStart + gtCount * gtSectors, GRAIN_SECTORS);
  const header: SparseHeader = {
    version: 1, flags: FLAG_NL_DETECT | FLAG_RGD, capacity, grainSize: GRAIN_SECTORS, descriptorOffset: 1, descriptorSize: DESCRIPTOR_SECTORS,
    numGTEsPerGT: GTES, rgdOffset, gdOffset, overHead, compressAlgorithm: 0,
  };
  const name = extentName(opts, sink);
  const desc = Buffer.alloc(DESCRIPTOR_SECTORS * SECTOR);
  Buffer.from(buildDescriptor({ createType: 'monolithicSparse', extentLine: `RW ${capacity} SPARSE "${name}"`, sectors: capacity, adapterType: opts.extra?.adapterType as string | undefined }), 'utf8').copy(desc);
  await sink.pwrite(Buffer.concat([serializeSparseHeader(header, false), desc]), 0);

  const outSize = capacity * SECTOR;
  const alloc = await writeAllocatedData({ src, sink, outSize, cluster: GRAIN_SECTORS * SECTOR, dataStart: overHead * SECTOR, granule: SECTOR, ctx, holes: opts.extra?.sparse === true });

  const gts = new Uint32Array(gtCount * GTES);
  gts.set(alloc.offsets.subarray(0, gts.length));
  const gtBuf = Buffer.from(gts.buffer, gts.byteOffset, gts.byteLength);
  const gd = (start: number) => {
    const b = Buffer.alloc(gdSectors * SECTOR);
    for (let i = 0; i < gtCount; i++) b.writeUInt32LE(start + i * gtSectors, i * 4);
    return b;
  };
  await sink.pwrite(Buffer.concat([gd(rgtStart), gtBuf]), rgdOffset * SECTOR);
  await sink.pwrite(Buffer.concat([gd(gtStart), gtBuf]), gdOffset * SECTOR);
  const fileSize = Math.max(alloc.end, overHead * SECTOR);
  await sink.truncate?.(fileSize);
  await sink.sync?.();
  await sink.pwrite(serializeSparseHeader(header, true), 0);
  return { fileSize };
}
