/**
 * Reading a VHD: fixed (data then footer), dynamic (BAT of 4-byte sector offsets, 0xFFFFFFFF =
 * unallocated = zeros) and differencing (unallocated = parent; allocated blocks mix child and
 * parent data per 512-byte sector by the sector bitmap). QEMU ignores the bitmaps of
 * differencing disks; we honour them (disk-formats.md §3.1 "Differencing").
 */
import type { ByteSource, Disk, DiskDescription, LocalLayout, Problem } from '../types.js';
import { checkReadRange } from '../fields.js';
import { FileSource, identityLayout, readExact } from '../io/file.js';
import { BlockSet, planBlocks } from '../block-map.js';
import { blockDataFilter, extentBlocks, hasData, loadExtentMap } from '../raw/extents.js';
import { VHD_EPOCH, chsBytes, sizeSource, type VhdFooter } from './footer.js';
import { bitmapSize, type DynamicHeader } from './header.js';

export const BAT_UNUSED = 0xffffffff;
/** Unit of blocks() for fixed VHDs (they have no blocks; 2 MiB like QEMU's dynamic default). */
const FIXED_UNIT = 2 << 20;

export interface VhdParts {
  source: ByteSource;
  footer: VhdFooter;
  virtualSize: number;
  header?: DynamicHeader;
  bat?: Uint32Array;
  parent?: Disk;
  problems: Problem[];
}

export class VhdDisk implements Disk {
  readonly format = 'vhd' as const;
  readonly subformat: string;
  readonly virtualSize: number;
  readonly blockSize: number;
  readonly source: ByteSource;
  readonly parent?: Disk;
  readonly footer: VhdFooter;
  readonly header?: DynamicHeader;
  readonly bat?: Uint32Array;
  readonly problems: Problem[];
  private readonly bitmapBytes: number;
  private readonly bitmapCache = new Map<number, Buffer>();

  constructor(p: VhdParts) {
    this.source = p.source;
    this.footer = p.footer;
    this.header = p.header;
    this.bat = p.bat;
    this.parent = p.parent;
    this.problems = p.problems;
    this.subformat = p.footer.type;
    this.virtualSize = p.virtualSize;
    this.blockSize = p.header?.blockSize ?? FIXED_UNIT;
    this.bitmapBytes = p.header ? bitmapSize(p.header.blockSize) : 0;
  }

  async *blocks(): AsyncGenerator<number> {
    if (!this.bat) {
      yield* extentBlocks(this.source, this.blockSize, this.virtualSize);
      return;
    }
    const count = Math.ceil(this.virtualSize / this.blockSize);
    if (!this.parent) {
      for (let i = 0; i < count; i++) if (this.bat[i] !== BAT_UNUSED) yield i;
      return;
    }
    // Differencing: union of our blocks and the parent's (mapped to our block size).
    const set = new BlockSet(count);
    for (let i = 0; i < count; i++) if (this.bat[i] !== BAT_UNUSED) set.add(i);
    for (const i of await planBlocks(this.parent, this.blockSize)) set.add(i);
    yield* set;
  }

  /**
   * Which virtual ranges may hold data, finer than blocks(): bytes of the image file that are holes
   * read as zeros (qemu-img leaves the zero parts of a dynamic VHD's blocks as holes, and a fixed
   * VHD may be a sparse file), so they are not read. Differencing disks: no filter.
   */
  async dataFilter(): Promise<((offset: number, length: number) => boolean) | undefined> {
    if (this.parent) return undefined;
    const map = await loadExtentMap(this.source);
    if (!map) return undefined;
    const bat = this.bat;
    if (!bat) return (offset, length) => hasData(map, offset, offset + length);
    return blockDataFilter(map, this.source.size, this.blockSize, (block) => (bat[block] === BAT_UNUSED ? 'zero' : this.dataOffset(bat[block]!)));
  }

  /**
   * Without a parent the data is in the file as it is (native data path): a fixed VHD's bytes are
   * the disk's (identity), a dynamic VHD's blocks are mapped.
   */
  localFile(): LocalLayout | undefined {
    const file = this.source;
    if (this.parent || !(file instanceof FileSource)) return undefined;
    const bat = this.bat;
    if (!bat) return identityLayout(file);
    return {
      file,
      identity: false,
      at: (offset, max) => {
        const block = Math.floor(offset / this.blockSize);
        const inBlock = offset - block * this.blockSize;
        const n = Math.min(max, this.blockSize - inBlock);
        const entry = bat[block]!;
        return [entry === BAT_UNUSED ? -1 : this.dataOffset(entry) + inBlock, n];
      },
    };
  }

  async read(offset: number, length: number, buf = Buffer.allocUnsafe(length)): Promise<Buffer> {
    checkReadRange(offset, length, this.virtualSize, this.source.name);
    const out = buf.subarray(0, length);
    if (!this.bat) return readExact(this.source, offset, length, out);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const block = Math.floor(pos / this.blockSize);
      const inBlock = pos - block * this.blockSize;
      const n = Math.min(length - done, this.blockSize - inBlock);
      await this.readInBlock(block, inBlock, out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  private dataOffset(entry: number): number {
    return entry * 512 + this.bitmapBytes;
  }

  private async readInBlock(block: number, inBlock: number, out: Buffer): Promise<void> {
    const entry = this.bat![block]!;
    if (entry === BAT_UNUSED) {
      await this.readParent(block * this.blockSize + inBlock, out);
      return;
    }
    if (!this.parent) {
      await readExact(this.source, this.dataOffset(entry) + inBlock, out.length, out);
      return;
    }
    // Differencing: runs of sectors with the same bitmap bit come from the child (1) or the parent (0).
    const bitmap = await this.bitmap(block, entry);
    const first = Math.floor(inBlock / 512);
    const last = Math.floor((inBlock + out.length - 1) / 512);
    let runStart = first;
    const bit = (s: number) => (bitmap[s >> 3]! >> (7 - (s & 7))) & 1;
    for (let s = first; s <= last + 1; s++) {
      if (s <= last && bit(s) === bit(runStart)) continue;
      const from = Math.max(inBlock, runStart * 512);
      const to = Math.min(inBlock + out.length, s * 512);
      const part = out.subarray(from - inBlock, to - inBlock);
      if (bit(runStart)) await readExact(this.source, this.dataOffset(entry) + from, part.length, part);
      else await this.readParent(block * this.blockSize + from, part);
      runStart = s;
    }
  }

  private async bitmap(block: number, entry: number): Promise<Buffer> {
    let b = this.bitmapCache.get(block);
    if (!b) {
      b = await readExact(this.source, entry * 512, this.bitmapBytes);
      if (this.bitmapCache.size >= 64) this.bitmapCache.delete(this.bitmapCache.keys().next().value!);
      this.bitmapCache.set(block, b);
    }
    return b;
  }

  /** Unallocated data: the parent's bytes (zero past the parent's end), or zeros without a parent. */
  private async readParent(pos: number, out: Buffer): Promise<void> {
    const p = this.parent;
    if (!p) {
      out.fill(0);
      return;
    }
    const n = Math.max(0, Math.min(out.length, p.virtualSize - pos));
    if (n > 0) await p.read(pos, n, out.subarray(0, n));
    if (n < out.length) out.fill(0, n);
  }

  allocatedBytes(): number {
    if (!this.bat) return this.virtualSize;
    let n = 0;
    const count = Math.ceil(this.virtualSize / this.blockSize);
    for (let i = 0; i < count; i++) if (this.bat[i] !== BAT_UNUSED) n++;
    return n * this.blockSize;
  }

  describe(): DiskDescription {
    const f = this.footer;
    const chain: string[] = [];
    for (let d = this.parent; d; d = d.parent) chain.push(d.source.name);
    return {
      format: 'vhd',
      subformat: this.subformat,
      virtualSize: this.virtualSize,
      fileSize: this.source.size,
      blockSize: this.blockSize,
      allocatedBytes: this.allocatedBytes(),
      ...(chain.length ? { parentChain: chain } : {}),
      extra: {
        creatorApp: f.creatorApp.replace(/\0/g, '\\0'),
        creatorVersion: `${f.creatorVersion >>> 16}.${f.creatorVersion & 0xffff}`,
        creatorHostOs: Buffer.from(f.creatorHostOs.toString(16).padStart(8, '0'), 'hex').toString('latin1').replace(/\0/g, '\\0'),
        sizeSource: sizeSource(f),
        currentSize: f.currentSize,
        chsSize: chsBytes(f.geometry),
        geometry: f.geometry,
        uuid: f.uuid.toString('hex'),
        timestamp: new Date((f.timestamp + VHD_EPOCH) * 1000).toISOString(),
        ...(this.header ? { tableOffset: this.header.tableOffset, maxTableEntries: this.header.maxTableEntries } : {}),
        ...(this.header && this.parent ? { parentUuid: this.header.parentUuid.toString('hex'), parentName: this.header.parentName } : {}),
      },
      problems: [...this.problems],
    };
  }

  async close(): Promise<void> {
    await this.parent?.close();
    await this.source.close();
  }
}
