/**
 * Build a differencing VHD over an existing parent from a list of sector-aligned writes, by the
 * spec: footer copy, dynamic header with parent UUID/timestamp/name (UTF-16BE) and locators
 * (W2ru relative, W2ku absolute, UTF-16LE), BAT, and per written block a sector bitmap with only
 * the written sectors set. qemu-img cannot create VHD differencing disks ("Backing file not
 * supported for file format 'vpc'"), so the tests build their fixtures with this.
 */
import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { CeError } from '../../core/errors.js';
import { openDisk } from '../open.js';
import type { VhdDisk } from './disk.js';
import { makeFooter, uuidBytes, VHD_BLOCK } from './create.js';
import { bitmapSize, serializeDynamicHeader, type ParentLocator } from './header.js';
import { BAT_UNUSED } from './disk.js';

export interface DiffWrite {
  offset: number;
  data: Buffer;
}

export interface DiffOptions {
  /** Which locators to write (default both). */
  locators?: Array<'W2ru' | 'W2ku'>;
  /** parent_name (UTF-16BE) to record; default the parent's base name. */
  parentName?: string;
  /** Record another parent UUID (tests of mismatch). */
  parentUuid?: Buffer;
  /** The child's own UUID. */
  uuid?: Buffer;
}

export async function createDifferencingVhd(parentPath: string, childPath: string, writes: DiffWrite[], o: DiffOptions = {}): Promise<void> {
  const parent = (await openDisk(parentPath)) as VhdDisk;
  const { footer: pf, virtualSize: size } = parent;
  await parent.close();
  if (parent.format !== 'vhd') throw new CeError('VHD_PARENT_MISMATCH', 'The parent must be a VHD.');
  const bs = VHD_BLOCK;
  const entries = Math.max(1, Math.ceil(size / bs));
  const batBytes = Math.ceil((entries * 4) / 512) * 512;
  const bmBytes = bitmapSize(bs);

  const locTexts: Array<[string, string]> = (o.locators ?? ['W2ru', 'W2ku']).map((c) => [c, c === 'W2ru' ? `.\\${basename(parentPath)}` : resolve(parentPath)]);
  let at = 1536 + batBytes;
  const locators: ParentLocator[] = [];
  const locData: Array<[number, Buffer]> = [];
  for (const [code, text] of locTexts) {
    const data = Buffer.from(text, 'utf16le');
    const space = Math.ceil(data.length / 512) * 512;
    locators.push({ platformCode: code, dataSpace: space / 512, dataLength: data.length, dataOffset: at });
    locData.push([at, data]);
    at += space;
  }

  // Group the writes by block: data and bitmap per block.
  const blocks = new Map<number, { data: Buffer; bitmap: Buffer }>();
  for (const w of writes) {
    if (w.offset % 512 || w.data.length % 512 || w.offset + w.data.length > size) throw new CeError('VHD_DIFF_WRITE', 'Writes must be whole sectors inside the disk.');
    for (let s = 0; s < w.data.length; s += 512) {
      const pos = w.offset + s;
      const b = Math.floor(pos / bs);
      let e = blocks.get(b);
      if (!e) blocks.set(b, (e = { data: Buffer.alloc(bs), bitmap: Buffer.alloc(bmBytes) }));
      w.data.copy(e.data, pos - b * bs, s, s + 512);
      const sector = (pos - b * bs) / 512;
      e.bitmap[sector >> 3]! |= 0x80 >> (sector & 7);
    }
  }
  const bat = Buffer.alloc(batBytes, 0xff);
  const parts: Array<[number, Buffer]> = [...locData];
  for (const b of [...blocks.keys()].sort((x, y) => x - y)) {
    const e = blocks.get(b)!;
    bat.writeUInt32BE(at / 512, b * 4);
    parts.push([at, e.bitmap], [at + bmBytes, e.data]);
    at += bmBytes + bs;
  }
  void BAT_UNUSED;
  const footer = makeFooter({ type: 'differencing', size, dataOffset: 512, uuid: o.uuid ?? uuidBytes() });
  const header = serializeDynamicHeader({
    tableOffset: 1536,
    maxTableEntries: entries,
    blockSize: bs,
    parentUuid: o.parentUuid ?? pf.uuid,
    parentTimestamp: pf.timestamp,
    parentName: o.parentName ?? basename(parentPath),
    locators,
  });
  const file = Buffer.alloc(at + 512);
  footer.copy(file, 0);
  header.copy(file, 512);
  bat.copy(file, 1536);
  for (const [off, b] of parts) b.copy(file, off);
  footer.copy(file, at);
  await writeFile(childPath, file);
}
