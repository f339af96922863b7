/**
 * VHDX writers (MS-VHDX): `vhdx` (dynamic) and `vhdx-fixed`, plus differencing children.
 * Layout (as QEMU's): header section 1 MiB, empty log at 1 MiB (1 MiB), metadata at 2 MiB (1 MiB),
 * BAT at 3 MiB, then 1 MiB-aligned blocks (§3.2 "data blocks are 1 MiB aligned").
 * Safety (open-vmdk's trick, §3.3): on a seekable sink the "vhdxfile" identifier is written last,
 * after everything else is synced, so a half-written file never looks like a VHDX.
 */
import type { Disk, Sink, WriteContext, WriteResult, WriterOptions } from '../types.js';
import { throwIfCancelled } from '../../core/errors.js';
import { formatError, isPowerOfTwo, roundUp } from '../format-kit/fields.js';
import { randomGuid } from '../format-kit/guid.js';
import { writeAllocatedData } from '../format-kit/allocating-writer.js';
import { BufferPool, mapOrdered } from '../format-kit/ordered.js';
import { UNIT, candidateUnits, flaggedIndexes, readClamped } from '../format-kit/source-units.js';
import { ZERO, isZero, writeZeros } from '../format-kit/zero.js';
import { WriteWindow } from '../format-kit/write-window.js';
import {
  FILE_ID_SIG, HEADER_OFFSETS, MAX_VIRTUAL_SIZE, META_FILE_PARAMETERS, META_FLAG_REQUIRED, META_FLAG_VIRTUAL_DISK, META_LOGICAL_SECTOR,
  META_PAGE83, META_PARENT_LOCATOR, META_PHYSICAL_SECTOR, META_VIRTUAL_DISK_SIZE, MiB, PAYLOAD, REGION_BAT, REGION_METADATA,
  REGION_OFFSETS, SB_PRESENT, batEntry, batGeometry, bitmapIndex, defaultBlockSize, payloadIndex, serializeHeader,
  serializeMetadataRegion, serializeParentLocator, serializeRegionTable, type BatGeometry,
} from './layout.js';

const E = 'VHDX';
const LOG_OFFSET = MiB;
const LOG_LENGTH = MiB;
const META_OFFSET = 2 * MiB;
const BAT_OFFSET = 3 * MiB;
const CREATOR = 'ce-disk (Compositing Engine)';

export interface VhdxParentLink {
  /** The parent's header DataWriteGuid (its describe().extra.dataWriteGuid). */
  dataWriteGuid: string;
  relativePath: string;
  absoluteWin32Path?: string;
}

interface Plan {
  virtualSize: number;
  geo: BatGeometry;
  batLength: number;
  dataStart: number;
  physical: number;
}

function plan(src: Disk, opts: WriterOptions, differencing: boolean): Plan {
  const virtualSize = roundUp(Math.max(opts.virtualSize ?? 0, src.virtualSize), 512);
  // A zero-size VHDX is legal in MS-VHDX, but QEMU computes its BAT size with an unsigned underflow and refuses it.
  if (virtualSize === 0) throw formatError(E, 'SIZE_ZERO', 'The disk is empty (0 bytes); a VHDX needs at least one sector.', 'Check the source.');
  if (virtualSize > MAX_VIRTUAL_SIZE) throw formatError(E, 'SIZE_TOO_LARGE', `A VHDX holds at most 64 TiB; the disk has ${virtualSize} bytes.`, 'Use raw or qcow2 for larger disks.');
  const blockSize = opts.blockSize ?? defaultBlockSize(virtualSize);
  if (!isPowerOfTwo(blockSize) || blockSize < MiB || blockSize > 256 * MiB) {
    throw formatError(E, 'BLOCK_SIZE_INVALID', `VHDX block size ${blockSize} must be a power of two between 1 MiB and 256 MiB.`);
  }
  const physical = Number(opts.extra?.physicalSectorSize ?? 512); // QEMU writes 512; Hyper-V usually 4096 (§3.2).
  if (physical !== 512 && physical !== 4096) throw formatError(E, 'METADATA_INVALID', `Physical sector size ${physical} must be 512 or 4096.`);
  const geo = batGeometry(virtualSize, blockSize, 512, differencing);
  const batLength = Math.max(MiB, roundUp(geo.entries * 8, MiB));
  return { virtualSize, geo, batLength, dataStart: BAT_OFFSET + batLength, physical };
}

/** Everything before the first block: header section, log space, metadata, BAT (identifier left zero). */
function buildHead(p: Plan, bat: Buffer, o: { leaveAllocated: boolean; parent?: VhdxParentLink; dataWriteGuid?: Buffer }): Buffer {
  const head = Buffer.alloc(p.dataStart);
  Buffer.from(CREATOR, 'utf16le').copy(head, 8);
  const fileWriteGuid = randomGuid();
  const dataWriteGuid = o.dataWriteGuid ?? randomGuid();
  HEADER_OFFSETS.forEach((off, i) => {
    serializeHeader({ sequence: BigInt(i + 1), fileWriteGuid, dataWriteGuid, logGuid: Buffer.alloc(16), logVersion: 0, version: 1, logLength: LOG_LENGTH, logOffset: LOG_OFFSET }).copy(head, off);
  });
  const regions = serializeRegionTable([
    { guid: REGION_BAT, fileOffset: BAT_OFFSET, length: p.batLength, required: true },
    { guid: REGION_METADATA, fileOffset: META_OFFSET, length: MiB, required: true },
  ]);
  for (const off of REGION_OFFSETS) regions.copy(head, off);
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const fp = Buffer.alloc(8);
  fp.writeUInt32LE(p.geo.blockSize, 0);
  fp.writeUInt32LE((o.leaveAllocated ? 1 : 0) | (o.parent ? 2 : 0), 4);
  const vs = Buffer.alloc(8);
  vs.writeBigUInt64LE(BigInt(p.virtualSize));
  const sys = META_FLAG_REQUIRED | META_FLAG_VIRTUAL_DISK;
  const items = [
    { itemId: META_FILE_PARAMETERS, flags: META_FLAG_REQUIRED, data: fp },
    { itemId: META_VIRTUAL_DISK_SIZE, flags: sys, data: vs },
    { itemId: META_PAGE83, flags: sys, data: randomGuid() },
    { itemId: META_LOGICAL_SECTOR, flags: sys, data: u32(512) },
    { itemId: META_PHYSICAL_SECTOR, flags: sys, data: u32(p.physical) },
  ];
  if (o.parent) {
    // §2.6.2.6.3: parent_linkage = the parent's DataWriteGuid, lowercase with braces; plus paths.
    const kv: [string, string][] = [['parent_linkage', `{${o.parent.dataWriteGuid.replace(/[{}]/g, '').toLowerCase()}}`], ['relative_path', o.parent.relativePath.replace(/\//g, '\\')]];
    if (o.parent.absoluteWin32Path) kv.push(['absolute_win32_path', o.parent.absoluteWin32Path]);
    items.push({ itemId: META_PARENT_LOCATOR, flags: META_FLAG_REQUIRED, data: serializeParentLocator(kv) });
  }
  serializeMetadataRegion(items).copy(head, META_OFFSET);
  bat.copy(head, BAT_OFFSET);
  return head;
}

async function finish(sink: Sink, head: Buffer, fileSize: number): Promise<WriteResult> {
  await sink.pwrite(head.subarray(8), 8);
  await sink.truncate?.(fileSize);
  await sink.sync?.();
  await sink.pwrite(FILE_ID_SIG, 0);
  return { fileSize };
}

function requireSeekable(sink: Sink, target: string): void {
  if (!sink.seekable) throw formatError(E, 'SINK_NOT_SEEKABLE', `The ${target} writer needs a seekable output (it writes the BAT after the data).`, 'Write to a file, or use vhdx-fixed for a stream.');
}

/** Dynamic VHDX: zero blocks stay NOT_PRESENT with offset 0 (Hyper-V fails on a non-zero offset, §3.2). */
export async function writeVhdxDynamic(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
  requireSeekable(sink, 'vhdx');
  const p = plan(src, opts, false);
  await sink.pwrite(ZERO.subarray(0, 8), 0); // placeholder identifier until the end
  // A local file that may be sparse: pre-size to the largest possible layout, so the data (with
  // holes between its pieces) lands inside the file's length rather than extending it at every
  // write (raw/writer.ts); finish() truncates to the real end.
  if (opts.extra?.sparse === true && sink.truncate) await sink.truncate(p.dataStart + p.geo.dataBlocks * p.geo.blockSize);
  const alloc = await writeAllocatedData({ src, sink, outSize: p.virtualSize, cluster: p.geo.blockSize, dataStart: p.dataStart, granule: MiB, ctx, holes: opts.extra?.sparse === true });
  const bat = Buffer.alloc(p.batLength);
  for (let blk = 0; blk < p.geo.dataBlocks; blk++) {
    const off = alloc.offsets[blk] * MiB;
    bat.writeBigUInt64LE(off ? batEntry(PAYLOAD.FULLY_PRESENT, off) : 0n, payloadIndex(p.geo, blk) * 8);
  }
  return finish(sink, buildHead(p, bat, { leaveAllocated: false }), alloc.end);
}

/** Fixed VHDX: every block FULLY_PRESENT in order, zeros written (never a sparse host file). Streams forward. */
export async function writeVhdxFixed(src: Disk, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
  const p = plan(src, opts, false);
  const bs = p.geo.blockSize;
  const bat = Buffer.alloc(p.batLength);
  for (let blk = 0; blk < p.geo.dataBlocks; blk++) bat.writeBigUInt64LE(batEntry(PAYLOAD.FULLY_PRESENT, p.dataStart + blk * bs), payloadIndex(p.geo, blk) * 8);
  const head = buildHead(p, bat, { leaveAllocated: true });
  if (!sink.seekable) FILE_ID_SIG.copy(head, 0);
  await sink.pwrite(head, 0);
  const dataEnd = p.dataStart + p.geo.dataBlocks * bs;
  const flags = await candidateUnits(src, UNIT, p.virtualSize);
  const pool = new BufferPool(UNIT);
  const units = Math.ceil((p.geo.dataBlocks * bs) / UNIT);
  // Zeros are written (a fixed VHDX for Hyper-V must not be a sparse host file, §3.2) unless the
  // engine allows holes (extra.sparse === true: local files only) on a seekable, truncatable sink.
  const holes = opts.extra?.sparse === true && sink.seekable && !!sink.truncate;
  const all = (function* () { for (let u = 0; u < units; u++) if (flags[u] || !holes) yield u; })();
  const win = new WriteWindow(sink, ctx.inFlight ?? 8);
  for await (const { u, buf } of mapOrdered(all, ctx.inFlight ?? 8, async (u) => {
    throwIfCancelled(ctx.signal);
    return { u, buf: flags[u] ? await readClamped(src, u * UNIT, pool.get()) : undefined };
  })) {
    if (holes && buf && isZero(buf)) pool.put(buf);
    else {
      const { done } = await win.write(buf ?? ZERO.subarray(0, UNIT), p.dataStart + u * UNIT);
      if (buf) void done.then(() => pool.put(buf));
    }
    ctx.onProgress?.(Math.min(p.virtualSize, (u + 1) * UNIT));
  }
  await win.drain();
  ctx.onProgress?.(p.virtualSize);
  if (!sink.seekable) return { fileSize: dataEnd };
  return finish(sink, head, dataEnd);
}

/**
 * A differencing VHDX: `src` is the full content the child must show, `parentDisk` the parent it
 * will sit on. Sectors equal to the parent stay absent (bit 0 in the sector bitmap); blocks with
 * every sector present are FULLY_PRESENT, others PARTIALLY_PRESENT with a sector bitmap block.
 */
export async function writeVhdxDifferencing(src: Disk, parentDisk: Disk, link: VhdxParentLink, sink: Sink, opts: WriterOptions, ctx: WriteContext): Promise<WriteResult> {
  requireSeekable(sink, 'vhdx (differencing)');
  const p = plan(parentDisk, { ...opts, virtualSize: Math.max(parentDisk.virtualSize, src.virtualSize) }, true);
  const { geo } = p;
  const bs = geo.blockSize;
  const ss = 512;
  const chunkBytes = 2 ** 23 * ss;
  await sink.pwrite(ZERO.subarray(0, 8), 0);
  const a = await candidateUnits(src, UNIT, p.virtualSize);
  const b = await candidateUnits(parentDisk, UNIT, p.virtualSize);
  for (let i = 0; i < a.length; i++) a[i] |= b[i];
  const blockOff = new Float64Array(geo.dataBlocks);
  const present = new Uint32Array(geo.dataBlocks);
  const bitmaps = new Map<number, Buffer>();
  let next = p.dataStart;
  let openBlk = -1;
  let fillPos = 0;
  const closeOpen = async () => {
    if (openBlk < 0) return;
    const end = (openBlk + 1) * bs;
    if (fillPos < end) await writeZeros((x, q) => sink.pwrite(x, q), blockOff[openBlk] + (fillPos - openBlk * bs), end - fillPos);
    openBlk = -1;
  };
  const pool = new BufferPool(UNIT);
  for await (const { u, mine, theirs } of mapOrdered(flaggedIndexes(a), ctx.inFlight ?? 8, async (u) => {
    throwIfCancelled(ctx.signal);
    const [mine, theirs] = await Promise.all([readClamped(src, u * UNIT, pool.get()), readClamped(parentDisk, u * UNIT, pool.get())]);
    return { u, mine, theirs };
  })) {
    const pos = u * UNIT;
    const len = Math.min(UNIT, p.virtualSize - pos);
    if (!mine.subarray(0, len).equals(theirs.subarray(0, len))) {
      const blk = Math.floor(pos / bs);
      const chunk = Math.floor(pos / chunkBytes);
      let bm = bitmaps.get(chunk);
      if (!bm) bitmaps.set(chunk, (bm = Buffer.alloc(MiB)));
      for (let s = 0; s < len; s += ss) {
        if (mine.subarray(s, s + ss).equals(theirs.subarray(s, s + ss))) continue;
        const bit = (pos + s - chunk * chunkBytes) / ss;
        bm[bit >> 3] |= 1 << (bit & 7);
        present[blk]++;
      }
      if (blk !== openBlk) {
        await closeOpen();
        blockOff[blk] = next;
        next += bs;
        openBlk = blk;
        fillPos = blk * bs;
      }
      if (pos > fillPos) await writeZeros((x, q) => sink.pwrite(x, q), blockOff[blk] + (fillPos - blk * bs), pos - fillPos);
      await sink.pwrite(mine, blockOff[blk] + (pos - blk * bs));
      fillPos = pos + UNIT;
    }
    pool.put(mine);
    pool.put(theirs);
    ctx.onProgress?.(Math.min(p.virtualSize, pos + UNIT));
  }
  await closeOpen();
  const bat = Buffer.alloc(p.batLength);
  for (let blk = 0; blk < geo.dataBlocks; blk++) {
    if (!blockOff[blk]) continue;
    const sectors = Math.ceil(Math.min(bs, p.virtualSize - blk * bs) / ss);
    const st = present[blk] === sectors ? PAYLOAD.FULLY_PRESENT : PAYLOAD.PARTIALLY_PRESENT;
    bat.writeBigUInt64LE(batEntry(st, blockOff[blk]), payloadIndex(geo, blk) * 8);
  }
  for (const [chunk, bm] of [...bitmaps].sort((x, y) => x[0] - y[0])) {
    await sink.pwrite(bm, next);
    bat.writeBigUInt64LE(batEntry(SB_PRESENT, next), bitmapIndex(geo, chunk) * 8);
    next += MiB;
  }
  ctx.onProgress?.(p.virtualSize);
  return finish(sink, buildHead(p, bat, { leaveAllocated: false, parent: link }), next);
}
