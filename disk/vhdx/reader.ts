/**
 * Open a VHDX (MS-VHDX) as a Disk: file identifier, the valid header with the larger sequence
 * number (§2.2.2), a valid region table (§2.2.3), log replay in memory (§2.3.3), metadata (§2.6),
 * BAT (§2.5), sector bitmaps for differencing disks, and the parent chain.
 */
import type { ByteSource, Disk, DiskDescription, LocalLayout, OpenOptions, Problem } from '../types.js';
import { FileSource, readExact } from '../io/file.js';
import { formatError, isPowerOfTwo, u64le } from '../format-kit/fields.js';
import { guidToString, isZeroGuid } from '../format-kit/guid.js';
import { chainBlocks, readExtents, type Extent } from '../format-kit/extent-read.js';
import { blockDataFilter, loadExtentMap } from '../raw/extents.js';
import {
  FILE_ID_SIG, HEADER_OFFSETS, HEADER_SIZE, MAX_VIRTUAL_SIZE, META_FILE_PARAMETERS, META_FLAG_REQUIRED, META_LOGICAL_SECTOR,
  META_PAGE83, META_PARENT_LOCATOR, META_PHYSICAL_SECTOR, META_VIRTUAL_DISK_SIZE, MiB, PARENT_LOCATOR_VHDX, PAYLOAD, REGION_BAT,
  REGION_METADATA, REGION_OFFSETS, REGION_SIZE, SB_PRESENT, batGeometry, bitmapIndex, parseHeader, parseMetadataTable,
  parseParentLocator, parseRegionTable, payloadIndex, type BatGeometry, type VhdxHeader,
} from './layout.js';
import { replayLog } from './log.js';
import { OverlaySource } from './overlay-source.js';

const E = 'VHDX';
const KNOWN_META = new Set([META_FILE_PARAMETERS, META_VIRTUAL_DISK_SIZE, META_PAGE83, META_LOGICAL_SECTOR, META_PHYSICAL_SECTOR, META_PARENT_LOCATOR]);
const BITMAP_CACHE = 16;

export async function openVhdx(file: ByteSource, opts: OpenOptions): Promise<VhdxDisk> {
  const problems: Problem[] = [];
  if (file.size < 1 * MiB) throw formatError(E, 'TRUNCATED', `${file.name} is ${file.size} bytes, smaller than the 1 MiB VHDX header section.`);
  const ident = await readExact(file, 0, 8);
  if (!ident.equals(FILE_ID_SIG)) throw formatError(E, 'BAD_SIGNATURE', `${file.name} has no "vhdxfile" identifier.`);

  // §2.2.2: both headers; the valid one with the larger sequence number is current.
  const headers: (VhdxHeader | undefined)[] = [];
  for (const off of HEADER_OFFSETS) headers.push(parseHeader(await readExact(file, off, HEADER_SIZE)));
  headers.forEach((h, i) => {
    if (!h) problems.push({ code: 'VHDX_HEADER_INVALID', message: `Header ${i + 1} is invalid (signature, version or CRC-32C).`, severity: 'warning', offset: HEADER_OFFSETS[i] });
  });
  const valid = headers.filter((h): h is VhdxHeader => !!h);
  if (!valid.length) throw formatError(E, 'HEADER_INVALID', `Neither VHDX header of ${file.name} is valid.`);
  const header = valid.reduce((a, b) => (b.sequence > a.sequence ? b : a));

  // §2.3.3: replay the log before reading anything else; the overlay keeps the source untouched.
  const overlay = await replayLog(file, header);
  const src: ByteSource = overlay ? new OverlaySource(file, overlay) : file;

  let regions: ReturnType<typeof parseRegionTable>;
  for (const [i, off] of REGION_OFFSETS.entries()) {
    const r = parseRegionTable(await readExact(src, off, REGION_SIZE));
    if (!r) problems.push({ code: 'VHDX_REGION_TABLE_INVALID', message: `Region table ${i + 1} is invalid (signature or CRC-32C).`, severity: 'warning', offset: off });
    else regions ??= r;
  }
  if (!regions) throw formatError(E, 'REGION_TABLE_INVALID', `Neither VHDX region table of ${file.name} is valid.`);
  for (const r of regions) {
    if (r.required && r.guid !== REGION_BAT && r.guid !== REGION_METADATA) {
      throw formatError(E, 'REQUIRED_REGION_UNKNOWN', `${file.name} has a required region ${r.guid} this reader does not know.`, 'A newer VHDX feature is in use; convert the image with Hyper-V first.');
    }
  }
  const batR = regions.find((r) => r.guid === REGION_BAT);
  const metaR = regions.find((r) => r.guid === REGION_METADATA);
  if (!batR || !metaR) throw formatError(E, 'REGION_TABLE_INVALID', `${file.name} lacks the ${batR ? 'metadata' : 'BAT'} region.`);
  for (const r of [batR, metaR]) {
    if (r.fileOffset < MiB || r.fileOffset % MiB || r.fileOffset + r.length > src.size) {
      throw formatError(E, 'PAST_EOF', `The VHDX region ${r.guid} (offset ${r.fileOffset}, length ${r.length}) is misplaced or past EOF (${src.size}).`);
    }
  }
  if (metaR.length < 64 * 1024 || metaR.length > 256 * MiB) throw formatError(E, 'METADATA_INVALID', `The VHDX metadata region is ${metaR.length} bytes.`);

  // §2.6: metadata items.
  const metaBuf = await readExact(src, metaR.fileOffset, metaR.length);
  const items = new Map<string, Buffer>();
  for (const m of parseMetadataTable(metaBuf)) {
    if (m.length && (m.offset < 64 * 1024 || m.offset + m.length > metaR.length)) {
      throw formatError(E, 'METADATA_INVALID', `VHDX metadata item ${m.itemId} lies outside the metadata region.`);
    }
    if (!KNOWN_META.has(m.itemId)) {
      if (m.flags & META_FLAG_REQUIRED) throw formatError(E, 'REQUIRED_METADATA_UNKNOWN', `${file.name} has a required metadata item ${m.itemId} this reader does not know.`);
      continue;
    }
    items.set(m.itemId, metaBuf.subarray(m.offset, m.offset + m.length));
  }
  const need = (id: string, min: number, what: string) => {
    const b = items.get(id);
    if (!b || b.length < min) throw formatError(E, 'METADATA_INVALID', `The VHDX metadata item "${what}" is missing or too short.`);
    return b;
  };
  const fp = need(META_FILE_PARAMETERS, 8, 'File Parameters');
  const blockSize = fp.readUInt32LE(0);
  const hasParent = (fp.readUInt32LE(4) & 2) !== 0;
  const leaveAllocated = (fp.readUInt32LE(4) & 1) !== 0;
  if (!isPowerOfTwo(blockSize) || blockSize < MiB || blockSize > 256 * MiB) throw formatError(E, 'BLOCK_SIZE_INVALID', `VHDX block size ${blockSize} is not a power of two between 1 MiB and 256 MiB.`);
  const virtualSize = u64le(need(META_VIRTUAL_DISK_SIZE, 8, 'Virtual Disk Size'), 0, E, 'VirtualDiskSize');
  const logical = need(META_LOGICAL_SECTOR, 4, 'Logical Sector Size').readUInt32LE(0);
  const physical = need(META_PHYSICAL_SECTOR, 4, 'Physical Sector Size').readUInt32LE(0);
  const page83 = guidToString(need(META_PAGE83, 16, 'Virtual Disk ID'));
  if (logical !== 512 && logical !== 4096) throw formatError(E, 'METADATA_INVALID', `VHDX logical sector size ${logical} is not 512 or 4096.`);
  if (physical !== 512 && physical !== 4096) problems.push({ code: 'VHDX_METADATA_INVALID', message: `Physical sector size ${physical} is not 512 or 4096.`, severity: 'warning' });
  if (virtualSize > MAX_VIRTUAL_SIZE) throw formatError(E, 'SIZE_TOO_LARGE', `VHDX virtual size ${virtualSize} is above 64 TiB.`);
  if (virtualSize % logical) problems.push({ code: 'VHDX_SIZE_UNALIGNED', message: `Virtual size ${virtualSize} is not a multiple of the ${logical}-byte sector.`, severity: 'warning' });

  // §2.5: BAT with interleaved sector-bitmap entries.
  const geo = batGeometry(virtualSize, blockSize, logical, hasParent);
  if (geo.entries * 8 > batR.length) throw formatError(E, 'BAT_INVALID', `The VHDX BAT region (${batR.length} bytes) is too small for ${geo.entries} entries.`);
  const batBuf = await readExact(src, batR.fileOffset, geo.entries * 8);
  const n = geo.entries;
  const state = new Uint8Array(n);
  const offset = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const lo = batBuf.readUInt32LE(i * 8), hi = batBuf.readUInt32LE(i * 8 + 4);
    state[i] = lo & 7;
    offset[i] = ((lo >>> 20) + hi * 4096) * MiB;
  }
  const allocated: number[] = [];
  for (let blk = 0; blk < geo.dataBlocks; blk++) {
    const i = payloadIndex(geo, blk);
    const st = state[i];
    if (st === PAYLOAD.FULLY_PRESENT || st === PAYLOAD.PARTIALLY_PRESENT) {
      if (st === PAYLOAD.PARTIALLY_PRESENT && !hasParent) throw formatError(E, 'BAT_INVALID', `Block ${blk} is PARTIALLY_PRESENT in a VHDX without a parent.`);
      // QEMU tolerates a partial last block (older QEMU wrote one): only the virtual part must be in the file.
      if (offset[i] < MiB || offset[i] + Math.min(blockSize, virtualSize - blk * blockSize) > src.size) {
        throw formatError(E, 'BAT_PAST_EOF', `BAT entry of block ${blk} points at ${offset[i]}, outside the file (${src.size} bytes).`, undefined, { block: blk, offset: offset[i] });
      }
      allocated.push(blk);
    } else if (st === 4) throw formatError(E, 'BAT_INVALID', `BAT entry of block ${blk} has the reserved state 4.`);
    else if ((st === PAYLOAD.ZERO || st === PAYLOAD.NOT_PRESENT || st === PAYLOAD.UNMAPPED) && offset[i] !== 0) {
      problems.push({ code: 'VHDX_BAT_NONZERO_OFFSET', message: `Block ${blk} is in state ${st} with a non-zero offset (Hyper-V refuses this).`, severity: 'warning' });
    }
  }
  if (hasParent) {
    for (let c = 0; c * geo.chunkRatio < geo.dataBlocks; c++) {
      const i = bitmapIndex(geo, c);
      if (state[i] === SB_PRESENT && (offset[i] < MiB || offset[i] + MiB > src.size)) {
        throw formatError(E, 'BAT_PAST_EOF', `Sector bitmap ${c} points at ${offset[i]}, outside the file.`);
      }
    }
  }

  // Differencing: find and verify the parent (§2.6.2.6.3).
  let parent: Disk | undefined;
  let parentPath: string | undefined;
  let locator: Map<string, string> | undefined;
  if (hasParent) {
    const pl = parseParentLocator(need(META_PARENT_LOCATOR, 20, 'Parent Locator'));
    if (pl.type !== PARENT_LOCATOR_VHDX) throw formatError(E, 'PARENT_LOCATOR_INVALID', `Parent locator type ${pl.type} is not the VHDX type.`);
    locator = pl.entries;
    const linkage = [pl.entries.get('parent_linkage'), pl.entries.get('parent_linkage2')].filter((x): x is string => !!x).map(normGuid);
    if (!linkage.length) throw formatError(E, 'PARENT_LOCATOR_INVALID', 'The VHDX parent locator has no parent_linkage.');
    const tried: string[] = [];
    let psrc: ByteSource | undefined;
    for (const cand of parentCandidates(pl.entries)) {
      tried.push(cand);
      psrc = await opts.openRelated(cand).catch(() => undefined);
      if (psrc) {
        parentPath = psrc.name;
        break;
      }
    }
    if (!psrc) throw formatError(E, 'PARENT_NOT_FOUND', `The parent of ${file.name} was not found (tried ${tried.join(', ') || 'no path'}).`, 'Put the parent next to the child, under the name in relative_path.', { tried });
    parent = await opts.openParent(psrc, opts.depth + 1);
    const pGuid = (parent.describe().extra?.dataWriteGuid as string | undefined) ?? '';
    if (parent.format !== 'vhdx' || !linkage.includes(normGuid(pGuid))) {
      await parent.close();
      throw formatError(E, 'PARENT_MISMATCH', `The parent ${psrc.name} is not the VHDX this child was made from (DataWriteGuid ${pGuid || 'none'}, expected ${linkage.join(' or ')}).`, 'The parent was modified after the child was created, or the wrong file is in place.');
    }
    if (parent.virtualSize !== virtualSize) problems.push({ code: 'VHDX_PARENT_SIZE', message: `Parent size ${parent.virtualSize} differs from the child's ${virtualSize}.`, severity: 'warning' });
  }

  return new VhdxDisk(src, file.size, header, geo, virtualSize, state, offset, allocated, parent, parentPath, problems, {
    logical, physical, page83, leaveAllocated, dirty: !!overlay, logEntries: overlay?.entries ?? 0, locator,
  });
}

function normGuid(s: string): string {
  return s.replace(/[{}]/g, '').toLowerCase();
}

/** relative_path first, then absolute_win32_path (volume_path cannot be resolved off Windows), then the bare file name. */
function parentCandidates(kv: Map<string, string>): string[] {
  const out: string[] = [];
  const rel = kv.get('relative_path');
  if (rel) out.push(rel.replace(/\\/g, '/').replace(/^\.\//, ''));
  const abs = kv.get('absolute_win32_path');
  if (abs) out.push(abs.replace(/^\\\\\?\\/, '').replace(/^[A-Za-z]:/, '').replace(/\\/g, '/'));
  for (const p of [rel, abs, kv.get('volume_path')]) if (p) out.push(p.split(/[\\/]/).pop()!);
  return [...new Set(out.filter(Boolean))];
}

interface Extra {
  logical: number;
  physical: number;
  page83: string;
  leaveAllocated: boolean;
  dirty: boolean;
  logEntries: number;
  locator?: Map<string, string>;
}

export class VhdxDisk implements Disk {
  readonly format = 'vhdx' as const;
  readonly subformat: string;
  readonly blockSize: number;
  private bitmaps = new Map<number, Buffer>();

  constructor(
    readonly source: ByteSource,
    private readonly fileSize: number,
    readonly header: VhdxHeader,
    readonly geo: BatGeometry,
    readonly virtualSize: number,
    private readonly state: Uint8Array,
    private readonly offset: Float64Array,
    private readonly allocated: number[],
    readonly parent: Disk | undefined,
    private readonly parentPath: string | undefined,
    private readonly problems: Problem[],
    private readonly extra: Extra,
  ) {
    this.blockSize = geo.blockSize;
    const fixed = extra.leaveAllocated && allocated.length === geo.dataBlocks;
    this.subformat = parent ? 'differencing' : fixed ? 'fixed' : 'dynamic';
  }

  blocks(): AsyncIterable<number> {
    return chainBlocks(this.allocated, this.blockSize, this.virtualSize, this.parent);
  }

  /**
   * Which virtual ranges may hold data, finer than blocks(): FULLY_PRESENT bytes that are holes
   * in a sparse image file are zeros (qemu-img leaves the zero parts of its blocks as holes).
   * Anything else (partial blocks, the parent's data) counts as data.
   */
  async dataFilter(): Promise<((offset: number, length: number) => boolean) | undefined> {
    const map = await loadExtentMap(this.source);
    if (!map) return undefined;
    return blockDataFilter(map, this.source.size, this.blockSize, (blk) => {
      const i = payloadIndex(this.geo, blk);
      const st = this.state[i];
      if (st === PAYLOAD.FULLY_PRESENT) return this.offset[i]!;
      return st === PAYLOAD.PARTIALLY_PRESENT || (st === PAYLOAD.NOT_PRESENT && this.parent) ? 'data' : 'zero';
    });
  }

  /** Payload state of a block, with its file offset (for check and tests). */
  entry(blk: number): { state: number; fileOffset: number } {
    const i = payloadIndex(this.geo, blk);
    return { state: this.state[i], fileOffset: this.offset[i] };
  }

  /** Without a parent and a replayed log, the data is in the file as it is (native data path). */
  localFile(): LocalLayout | undefined {
    const file = this.source;
    if (this.parent || !(file instanceof FileSource)) return undefined;
    return {
      file,
      identity: false,
      at: (offset, max) => {
        const e = this.lookup(offset, max);
        return [e.kind === 'data' ? e.fileOffset : -1, e.length];
      },
    };
  }

  async read(offset: number, length: number, buf?: Buffer): Promise<Buffer> {
    if (this.parent) await this.loadBitmaps(offset, length);
    return readExtents(this.source, this.parent, this.virtualSize, offset, length, buf, (pos, max) => this.lookup(pos, max));
  }

  private lookup(pos: number, max: number): Extent {
    const bs = this.blockSize;
    const blk = Math.floor(pos / bs);
    const inBlk = pos - blk * bs;
    const len = Math.min(max, bs - inBlk);
    const i = payloadIndex(this.geo, blk);
    switch (this.state[i]) {
      case PAYLOAD.FULLY_PRESENT:
        return { kind: 'data', length: len, fileOffset: this.offset[i] + inBlk };
      case PAYLOAD.PARTIALLY_PRESENT:
        return this.partial(pos, len, this.offset[i] + inBlk);
      case PAYLOAD.NOT_PRESENT:
        return this.parent ? { kind: 'parent', length: len } : { kind: 'zero', length: len };
      default: // ZERO, UNMAPPED (3 or 5), UNDEFINED: read as zero (§2.5.1.1 allows it for all three).
        return { kind: 'zero', length: len };
    }
  }

  /** PARTIALLY_PRESENT: a run of sectors with the same bitmap bit (1 = this file, 0 = parent). */
  private partial(pos: number, len: number, fileOffset: number): Extent {
    const ss = this.geo.logicalSectorSize;
    const sector = Math.floor(pos / ss);
    const chunkSectors = 2 ** 23;
    const chunk = Math.floor(sector / chunkSectors);
    const bm = this.bitmaps.get(chunk);
    if (!bm) throw new Error(`internal: sector bitmap ${chunk} not loaded`);
    const bit = (s: number) => (bm[(s - chunk * chunkSectors) >> 3] >> ((s - chunk * chunkSectors) & 7)) & 1;
    const first = bit(sector);
    const firstEnd = (sector + 1) * ss - pos;
    let run = Math.min(len, firstEnd);
    for (let s = sector + 1; run < len && bit(s) === first; s++) run = Math.min(len, run + ss);
    return first ? { kind: 'data', length: run, fileOffset } : { kind: 'parent', length: run };
  }

  private async loadBitmaps(offset: number, length: number): Promise<void> {
    const chunkBytes = 2 ** 23 * this.geo.logicalSectorSize;
    const end = Math.min(offset + length, this.virtualSize);
    for (let c = Math.floor(offset / chunkBytes); c * chunkBytes < end; c++) {
      if (this.bitmaps.has(c)) continue;
      const i = bitmapIndex(this.geo, c);
      const bm = this.state[i] === SB_PRESENT ? await readExact(this.source, this.offset[i], MiB) : Buffer.alloc(MiB);
      if (this.bitmaps.size >= BITMAP_CACHE) this.bitmaps.delete(this.bitmaps.keys().next().value as number);
      this.bitmaps.set(c, bm);
    }
  }

  describe(): DiskDescription {
    const chain: string[] = [];
    if (this.parentPath) chain.push(this.parentPath, ...(this.parent?.describe().parentChain ?? []));
    return {
      format: 'vhdx',
      subformat: this.subformat,
      virtualSize: this.virtualSize,
      fileSize: this.fileSize,
      blockSize: this.blockSize,
      allocatedBytes: this.allocated.length * this.blockSize,
      parentChain: chain.length ? chain : undefined,
      dirtyLog: this.extra.dirty,
      extra: {
        logicalSectorSize: this.extra.logical,
        physicalSectorSize: this.extra.physical,
        virtualDiskId: this.extra.page83,
        dataWriteGuid: guidToString(this.header.dataWriteGuid),
        fileWriteGuid: guidToString(this.header.fileWriteGuid),
        headerSequence: this.header.sequence.toString(),
        logEntriesReplayed: this.extra.logEntries,
        hasLogGuid: !isZeroGuid(this.header.logGuid),
        parentLocator: this.extra.locator ? Object.fromEntries(this.extra.locator) : undefined,
      },
      problems: [...this.problems],
    };
  }

  /** Structural checks beyond open(): overlapping blocks (§2.5.1 "must not overlap"). */
  check(): Problem[] {
    const out: Problem[] = [];
    const seen = new Map<number, number>();
    const bs = this.blockSize;
    const ranges: [number, number, number][] = [];
    for (const blk of this.allocated) {
      const off = this.offset[payloadIndex(this.geo, blk)];
      if (seen.has(off)) out.push({ code: 'VHDX_BAT_OVERLAP', message: `Blocks ${seen.get(off)} and ${blk} share file offset ${off}.`, severity: 'error', offset: off });
      seen.set(off, blk);
      ranges.push([off, off + bs, blk]);
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < ranges.length; k++) {
      if (ranges[k][0] < ranges[k - 1][1] && ranges[k][0] !== ranges[k - 1][0]) {
        out.push({ code: 'VHDX_BAT_OVERLAP', message: `Blocks ${ranges[k - 1][2]} and ${ranges[k][2]} overlap in the file.`, severity: 'error', offset: ranges[k][0] });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.parent?.close();
    await this.source.close();
  }
}
