/**
 * The in-memory registry hive: key/value navigation and edits over the cells of a regf image
 * (regf spec, "Key node", "Key value", "Key security", "Big data", subkey lists). Pure: it works
 * on a Buffer and serialises to a Buffer; `hive.ts` adds the files (open, logs, atomic save).
 *
 * Edits happen in place in the image, as Windows does: new cells reuse free cells or a new hbin
 * at the end; freed cells are zeroed. A key whose subkeys change keeps its sorted child list in
 * memory (by upper-cased name) and the lh/ri lists are written once, at serialisation.
 */
import { BASE_BLOCK_SIZE, fromFiletime, parseBaseBlock, toFiletime, validateBaseBlock, writeCleanBaseBlock, type BaseBlock } from './base-block.js';
import { CellStore, NIL } from './cells.js';
import { hiveError } from './errors.js';
import { compareUpcased, lhHash, upcaseName } from './upcase.js';
import { decodeValue, encodeValue } from './value-codec.js';
import type { HiveKey, RegData, RegValue } from './types.js';

// nk field offsets inside the cell data (regf spec, "Key node")
const NK = { flags: 2, stamp: 4, parent: 16, nSub: 20, nVolSub: 24, subList: 28, volList: 32, nVal: 36, valList: 40, sk: 44, cls: 48, maxName: 52, maxCls: 56, maxValName: 60, maxValData: 64, nameLen: 72, clsLen: 74, name: 76 } as const;
const KEY_COMP_NAME = 0x20;
const KEY_HIVE_ENTRY = 0x04;
const VK_COMP_NAME = 0x1;
/** Data over this size is stored as `db` big data in hives 1.4+ (CM_KEY_VALUE_BIG). */
export const BIG_DATA_THRESHOLD = 16344;
// Leaves stay under Windows' own leaf size (about 500 entries fit a 4 KiB page), longer lists become an ri
const LEAF_MAX = 500;
const LEAF_SPLIT = 500;
export const MAX_KEY_NAME = 255;
export const MAX_VALUE_NAME = 16383;

interface Child {
  off: number;
  up: string;
}

export interface VkInfo {
  off: number;
  name: string;
  type: number;
  size: number;
}

export interface HiveImageOptions {
  /** Accept a base block with a bad checksum or unequal sequence numbers (already decided by the caller). */
  acceptDirty?: boolean;
  readOnly?: boolean;
}

function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

export function splitPath(path: string): string[] {
  return path.split('\\').filter((p) => p !== '');
}

export class HiveImage {
  store: CellStore;
  readonly base: BaseBlock;
  readonly rootOff: number;
  readOnly: boolean;
  /** Set by the first edit. */
  modified = false;
  private readonly keys = new Map<number, KeyImpl>();
  /** Keys whose subkey list was edited: the sorted children, written at serialisation. */
  private readonly pendingChildren = new Map<number, Child[]>();

  constructor(image: Buffer, opts: HiveImageOptions = {}) {
    this.base = parseBaseBlock(image);
    validateBaseBlock(this.base, image.length);
    this.store = new CellStore(image, this.base.binsSize);
    this.rootOff = this.base.rootOffset;
    this.readOnly = Boolean(opts.readOnly);
    this.nk(this.rootOff);
  }

  get minor(): number {
    return this.base.minor;
  }

  // ---- low-level cell readers -------------------------------------------------------------

  private get buf(): Buffer {
    return this.store.buf;
  }

  /** File position of an nk cell's data, after checking signature and size. */
  nk(off: number): number {
    const { pos, len } = this.store.cell(off, 'key node');
    const b = this.buf;
    if (len < NK.name || b[pos] !== 0x6e || b[pos + 1] !== 0x6b) throw hiveError('HIVE_BAD_KEY', `The cell at 0x${off.toString(16)} is not a key node (nk).`, { offset: off });
    if (NK.name + b.readUInt16LE(pos + NK.nameLen) > len) throw hiveError('HIVE_BAD_KEY', `The key node at 0x${off.toString(16)} has a name longer than its cell.`, { offset: off });
    return pos;
  }

  keyName(off: number): string {
    const p = this.nk(off);
    const b = this.buf;
    const n = b.readUInt16LE(p + NK.nameLen);
    return b.readUInt16LE(p + NK.flags) & KEY_COMP_NAME ? b.toString('latin1', p + NK.name, p + NK.name + n) : b.toString('utf16le', p + NK.name, p + NK.name + (n & ~1));
  }

  keyField(off: number, field: keyof typeof NK): number {
    return this.buf.readUInt32LE(this.nk(off) + NK[field]);
  }

  private setKeyField(off: number, field: keyof typeof NK, v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.nk(off) + NK[field]);
  }

  keyStamp(off: number): Date {
    return fromFiletime(this.buf.readBigUInt64LE(this.nk(off) + NK.stamp));
  }

  private touch(off: number): void {
    this.buf.writeBigUInt64LE(toFiletime(new Date()), this.nk(off) + NK.stamp);
  }

  className(off: number): string | undefined {
    const p = this.nk(off);
    const len = this.buf.readUInt16LE(p + NK.clsLen);
    const co = this.buf.readUInt32LE(p + NK.cls);
    if (co === NIL || len === 0) return undefined;
    const c = this.store.cell(co, 'class name');
    if (len > c.len) throw hiveError('HIVE_BAD_CLASS', `The class name of the key at 0x${off.toString(16)} is longer than its cell.`, { offset: off });
    return this.buf.toString('utf16le', c.pos, c.pos + (len & ~1));
  }

  /** The nk offsets listed by a subkey list cell (lf/lh/li, or ri of those), with bounds and count checks. */
  private readList(listOff: number, out: number[], depth: number, seen: Set<number>): void {
    if (seen.has(listOff)) throw hiveError('HIVE_CYCLE', `The subkey list at 0x${listOff.toString(16)} is referenced twice (a loop).`, { offset: listOff });
    seen.add(listOff);
    const { pos, len } = this.store.cell(listOff, 'subkey list');
    const b = this.buf;
    const sig = b.toString('latin1', pos, pos + 2);
    const count = b.readUInt16LE(pos + 2);
    if (sig === 'lf' || sig === 'lh') {
      if (4 + count * 8 > len) throw hiveError('HIVE_BAD_COUNT', `The ${sig} list at 0x${listOff.toString(16)} claims ${count} entries, more than its cell holds.`, { offset: listOff, count });
      for (let i = 0; i < count; i++) out.push(b.readUInt32LE(pos + 4 + i * 8));
    } else if (sig === 'li') {
      if (4 + count * 4 > len) throw hiveError('HIVE_BAD_COUNT', `The li list at 0x${listOff.toString(16)} claims ${count} entries, more than its cell holds.`, { offset: listOff, count });
      for (let i = 0; i < count; i++) out.push(b.readUInt32LE(pos + 4 + i * 4));
    } else if (sig === 'ri' && depth === 0) {
      if (4 + count * 4 > len) throw hiveError('HIVE_BAD_COUNT', `The ri list at 0x${listOff.toString(16)} claims ${count} entries, more than its cell holds.`, { offset: listOff, count });
      for (let i = 0; i < count; i++) this.readList(b.readUInt32LE(pos + 4 + i * 4), out, 1, seen);
    } else {
      throw hiveError('HIVE_BAD_LIST', `The cell at 0x${listOff.toString(16)} is not a subkey list (found "${sig}"${sig === 'ri' ? ' nested' : ''}).`, { offset: listOff, sig });
    }
  }

  /** For `check`: the (nk offset, stored lh hash) pairs of a key's stored lh leaves. */
  storedHashes(off: number): { off: number; hash: number }[] {
    if (this.pendingChildren.has(off)) return [];
    const list = this.keyField(off, 'subList');
    if (list === NIL || this.keyField(off, 'nSub') === 0) return [];
    const out: { off: number; hash: number }[] = [];
    for (const cell of this.listCells(list)) {
      const { pos } = this.store.cell(cell, 'subkey list');
      if (this.buf.toString('latin1', pos, pos + 2) !== 'lh') continue;
      const n = this.buf.readUInt16LE(pos + 2);
      for (let i = 0; i < n; i++) out.push({ off: this.buf.readUInt32LE(pos + 4 + i * 8), hash: this.buf.readUInt32LE(pos + 8 + i * 8) });
    }
    return out;
  }

  /** The list cells of a key's stored subkey list (to free them). */
  private listCells(listOff: number): number[] {
    const cells = [listOff];
    const { pos } = this.store.cell(listOff, 'subkey list');
    if (this.buf.toString('latin1', pos, pos + 2) === 'ri') {
      const n = this.buf.readUInt16LE(pos + 2);
      for (let i = 0; i < n; i++) cells.push(this.buf.readUInt32LE(pos + 4 + i * 4));
    }
    return cells;
  }

  /** nk offsets of the subkeys of a key, in stored (sorted) order. */
  childOffsets(off: number): number[] {
    const pending = this.pendingChildren.get(off);
    if (pending) return pending.map((c) => c.off);
    const p = this.nk(off);
    const n = this.buf.readUInt32LE(p + NK.nSub);
    const list = this.buf.readUInt32LE(p + NK.subList);
    if (n === 0 || list === NIL) return [];
    const out: number[] = [];
    this.readList(list, out, 0, new Set());
    if (out.length > this.store.binsSize / 80) throw hiveError('HIVE_BAD_COUNT', `The key at 0x${off.toString(16)} lists ${out.length} subkeys, more than the hive can hold.`, { offset: off, count: out.length });
    return out;
  }

  findChild(off: number, name: string): number | undefined {
    const up = upcaseName(name);
    const pending = this.pendingChildren.get(off);
    if (pending) {
      const i = this.searchChildren(pending, up);
      return i >= 0 ? pending[i]!.off : undefined;
    }
    for (const c of this.childOffsets(off)) if (upcaseName(this.keyName(c)) === up) return c;
    return undefined;
  }

  private searchChildren(list: Child[], up: string): number {
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareUpcased(list[mid]!.up, up);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -(lo + 1);
  }

  // ---- values -------------------------------------------------------------------------------

  /** vk offsets of a key's values, in stored order. */
  valueOffsets(off: number): number[] {
    const p = this.nk(off);
    const n = this.buf.readUInt32LE(p + NK.nVal);
    const list = this.buf.readUInt32LE(p + NK.valList);
    if (n === 0 || list === NIL) return [];
    const c = this.store.cell(list, 'value list');
    if (n * 4 > c.len) throw hiveError('HIVE_BAD_COUNT', `The key at 0x${off.toString(16)} claims ${n} values, more than its value list holds.`, { offset: off, count: n });
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = this.buf.readUInt32LE(c.pos + i * 4);
    return out;
  }

  vk(off: number): number {
    const { pos, len } = this.store.cell(off, 'value');
    const b = this.buf;
    if (len < 20 || b[pos] !== 0x76 || b[pos + 1] !== 0x6b) throw hiveError('HIVE_BAD_VALUE', `The cell at 0x${off.toString(16)} is not a value (vk).`, { offset: off });
    if (20 + b.readUInt16LE(pos + 2) > len) throw hiveError('HIVE_BAD_VALUE', `The value at 0x${off.toString(16)} has a name longer than its cell.`, { offset: off });
    return pos;
  }

  vkInfo(off: number): VkInfo {
    const p = this.vk(off);
    const b = this.buf;
    const n = b.readUInt16LE(p + 2);
    const name = b.readUInt16LE(p + 16) & VK_COMP_NAME ? b.toString('latin1', p + 20, p + 20 + n) : b.toString('utf16le', p + 20, p + 20 + (n & ~1));
    return { off, name, type: b.readUInt32LE(p + 12), size: b.readUInt32LE(p + 4) & 0x7fffffff };
  }

  /** Whether a vk's data is a `db` big-data record. */
  private isBig(p: number): boolean {
    const size = this.buf.readUInt32LE(p + 4);
    if (size & 0x80000000 || size <= BIG_DATA_THRESHOLD || this.minor < 4) return false;
    const d = this.buf.readUInt32LE(p + 8);
    if (!this.store.isAllocated(d)) return false;
    const c = this.store.cell(d, 'value data');
    return this.buf.toString('latin1', c.pos, c.pos + 2) === 'db' && c.len < size;
  }

  /** The raw data bytes of a value: a copy, or with `copy = false` a view valid until the next edit. */
  vkData(off: number, copy = true): Buffer {
    const p = this.vk(off);
    const b = this.buf;
    const rawSize = b.readUInt32LE(p + 4);
    const size = rawSize & 0x7fffffff;
    if (rawSize & 0x80000000) return Buffer.from(b.subarray(p + 8, p + 8 + Math.min(size, 4)));
    const view = (from: number, to: number) => (copy ? Buffer.from(b.subarray(from, to)) : b.subarray(from, to));
    if (size === 0) return Buffer.alloc(0);
    const d = b.readUInt32LE(p + 8);
    if (this.isBig(p)) {
      const db = this.store.cellAtLeast(d, 8, 'big data');
      const nseg = b.readUInt16LE(db.pos + 2);
      const segList = b.readUInt32LE(db.pos + 4);
      const sl = this.store.cell(segList, 'big data segment list');
      if (nseg * 4 > sl.len || nseg * BIG_DATA_THRESHOLD < size) throw hiveError('HIVE_BAD_BIG_DATA', `The big data of the value at 0x${off.toString(16)} has ${nseg} segments for ${size} bytes.`, { offset: off, segments: nseg, size });
      const out = Buffer.allocUnsafe(size);
      let done = 0;
      for (let i = 0; i < nseg && done < size; i++) {
        const seg = this.store.cell(b.readUInt32LE(sl.pos + i * 4), 'big data segment');
        const n = Math.min(size - done, BIG_DATA_THRESHOLD, seg.len);
        b.copy(out, done, seg.pos, seg.pos + n);
        done += n;
      }
      if (done < size) throw hiveError('HIVE_BAD_BIG_DATA', `The big data of the value at 0x${off.toString(16)} is short (${done} of ${size} bytes).`, { offset: off });
      return out;
    }
    const c = this.store.cell(d, 'value data');
    // Windows sometimes declares more data than the cell holds; like hivex, take what the cell has (`check` reports it).
    return view(c.pos, c.pos + Math.min(size, c.len));
  }

  findValue(off: number, name: string): number | undefined {
    const up = upcaseName(name);
    for (const v of this.valueOffsets(off)) if (upcaseName(this.vkInfo(v).name) === up) return v;
    return undefined;
  }

  regValue(vkOff: number): RegValue {
    const info = this.vkInfo(vkOff);
    const raw = this.vkData(vkOff);
    return { name: info.name, type: info.type, raw, data: decodeValue(info.type, raw) };
  }

  // ---- edits ----------------------------------------------------------------------------------

  private assertWritable(): void {
    if (this.readOnly) throw hiveError('HIVE_READ_ONLY', 'The hive was opened read-only.', {}, 'Open it without readOnly to edit.');
    this.modified = true;
  }

  private freeData(vkPos: number): void {
    const b = this.buf;
    const rawSize = b.readUInt32LE(vkPos + 4);
    if (rawSize & 0x80000000 || (rawSize & 0x7fffffff) === 0) return;
    const d = b.readUInt32LE(vkPos + 8);
    if (!this.store.isAllocated(d)) return;
    if (this.isBig(vkPos)) {
      const db = this.store.cellAtLeast(d, 8, 'big data');
      const nseg = b.readUInt16LE(db.pos + 2);
      const segList = b.readUInt32LE(db.pos + 4);
      if (this.store.isAllocated(segList)) {
        const sl = this.store.cell(segList);
        const segs: number[] = [];
        for (let i = 0; i < nseg && i * 4 < sl.len; i++) segs.push(b.readUInt32LE(sl.pos + i * 4));
        for (const s of segs) this.store.free(s);
        this.store.free(segList);
      }
    }
    this.store.free(d);
  }

  /** Store data for the vk at `vkOff` (its old data already freed). */
  private writeData(vkOff: number, raw: Buffer): void {
    const len = raw.length;
    if (len > 0x7fffffff) throw hiveError('HIVE_DATA_TOO_BIG', `Value data of ${len} bytes is too big.`, { size: len });
    if (len <= 4) {
      const p = this.vk(vkOff);
      this.buf.writeUInt32LE((len | 0x80000000) >>> 0, p + 4);
      this.buf.fill(0, p + 8, p + 12);
      raw.copy(this.buf, p + 8);
      return;
    }
    let dataOff: number;
    if (len > BIG_DATA_THRESHOLD && this.minor >= 4) {
      const nseg = Math.ceil(len / BIG_DATA_THRESHOLD);
      if (nseg > 0xffff) throw hiveError('HIVE_DATA_TOO_BIG', `Value data of ${len} bytes needs more than 65535 big-data segments.`, { size: len });
      const segs: number[] = [];
      for (let i = 0; i < nseg; i++) {
        const part = raw.subarray(i * BIG_DATA_THRESHOLD, Math.min(len, (i + 1) * BIG_DATA_THRESHOLD));
        const s = this.store.alloc(part.length);
        part.copy(this.buf, BASE_BLOCK_SIZE + s + 4);
        segs.push(s);
      }
      const sl = this.store.alloc(nseg * 4);
      segs.forEach((s, i) => this.buf.writeUInt32LE(s, BASE_BLOCK_SIZE + sl + 4 + i * 4));
      dataOff = this.store.alloc(8);
      const dp = BASE_BLOCK_SIZE + dataOff + 4;
      this.buf.write('db', dp, 'latin1');
      this.buf.writeUInt16LE(nseg, dp + 2);
      this.buf.writeUInt32LE(sl, dp + 4);
    } else {
      dataOff = this.store.alloc(len);
      raw.copy(this.buf, BASE_BLOCK_SIZE + dataOff + 4);
    }
    const p = this.vk(vkOff);
    this.buf.writeUInt32LE(len, p + 4);
    this.buf.writeUInt32LE(dataOff, p + 8);
  }

  setValue(keyOff: number, name: string, type: number, data: RegData): void {
    this.assertWritable();
    if (name.length > MAX_VALUE_NAME) throw hiveError('HIVE_NAME_TOO_LONG', `A value name is limited to ${MAX_VALUE_NAME} characters.`, { length: name.length });
    if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) throw hiveError('HIVE_BAD_TYPE', `Value type ${type} is not a 32-bit number.`, { type });
    const raw = encodeValue(type, data);
    let vkOff = this.findValue(keyOff, name);
    if (vkOff !== undefined) {
      this.freeData(this.vk(vkOff));
    } else {
      const comp = isLatin1(name);
      const nameBytes = comp ? Buffer.from(name, 'latin1') : Buffer.from(name, 'utf16le');
      vkOff = this.store.alloc(20 + nameBytes.length);
      const p = BASE_BLOCK_SIZE + vkOff + 4;
      this.buf.write('vk', p, 'latin1');
      this.buf.writeUInt16LE(nameBytes.length, p + 2);
      this.buf.writeUInt16LE(comp ? VK_COMP_NAME : 0, p + 16);
      nameBytes.copy(this.buf, p + 20);
      this.appendValue(keyOff, vkOff);
    }
    this.writeData(vkOff, raw);
    this.buf.writeUInt32LE(type >>> 0, this.vk(vkOff) + 12);
    const p = this.nk(keyOff);
    if (this.buf.readUInt32LE(p + NK.maxValName) < name.length * 2) this.buf.writeUInt32LE(name.length * 2, p + NK.maxValName);
    if (this.buf.readUInt32LE(p + NK.maxValData) < raw.length) this.buf.writeUInt32LE(raw.length, p + NK.maxValData);
    this.touch(keyOff);
  }

  private appendValue(keyOff: number, vkOff: number): void {
    const vals = this.valueOffsets(keyOff);
    const list = this.keyField(keyOff, 'valList');
    const n = vals.length;
    let target = list;
    if (n === 0 || list === NIL || this.store.cell(list).len < (n + 1) * 4) {
      target = this.store.alloc(Math.max(4, (n + 1 + (n >> 1)) * 4));
      const tp = BASE_BLOCK_SIZE + target + 4;
      vals.forEach((v, i) => this.buf.writeUInt32LE(v, tp + i * 4));
      if (n > 0 && list !== NIL) this.store.free(list);
      this.setKeyField(keyOff, 'valList', target);
    }
    this.buf.writeUInt32LE(vkOff, BASE_BLOCK_SIZE + target + 4 + n * 4);
    this.setKeyField(keyOff, 'nVal', n + 1);
  }

  deleteValue(keyOff: number, name: string): boolean {
    const vkOff = this.findValue(keyOff, name);
    if (vkOff === undefined) return false;
    this.assertWritable();
    const vals = this.valueOffsets(keyOff).filter((v) => v !== vkOff);
    this.freeData(this.vk(vkOff));
    this.store.free(vkOff);
    const list = this.keyField(keyOff, 'valList');
    if (vals.length === 0) {
      this.store.free(list);
      this.setKeyField(keyOff, 'valList', NIL);
    } else {
      const lp = this.store.cell(list).pos;
      vals.forEach((v, i) => this.buf.writeUInt32LE(v, lp + i * 4));
    }
    this.setKeyField(keyOff, 'nVal', vals.length);
    let maxName = 0;
    let maxData = 0;
    for (const v of vals) {
      const i = this.vkInfo(v);
      maxName = Math.max(maxName, i.name.length * 2);
      maxData = Math.max(maxData, i.size);
    }
    this.setKeyField(keyOff, 'maxValName', maxName);
    this.setKeyField(keyOff, 'maxValData', maxData);
    this.touch(keyOff);
    return true;
  }

  /** Start editing a key's children: move the list to memory and free the stored list cells. */
  private editChildren(off: number): Child[] {
    let list = this.pendingChildren.get(off);
    if (list) return list;
    const offs = this.childOffsets(off);
    list = offs.map((c) => ({ off: c, up: upcaseName(this.keyName(c)) }));
    // stored lists are sorted by Windows' rules; re-sort by ours so binary search holds
    list.sort((a, b) => compareUpcased(a.up, b.up));
    const stored = this.keyField(off, 'subList');
    if (offs.length && stored !== NIL) for (const c of this.listCells(stored)) this.store.free(c);
    this.setKeyField(off, 'subList', NIL);
    this.pendingChildren.set(off, list);
    return list;
  }

  createChild(parentOff: number, name: string): number {
    this.assertWritable();
    if (name === '' || name.length > MAX_KEY_NAME || name.includes('\\')) {
      throw hiveError('HIVE_BAD_NAME', `Key name "${name.slice(0, 80)}" is not valid (1–${MAX_KEY_NAME} characters, no backslash).`, { length: name.length });
    }
    const children = this.editChildren(parentOff);
    const up = upcaseName(name);
    const at = this.searchChildren(children, up);
    if (at >= 0) return children[at]!.off;
    const comp = isLatin1(name);
    const nameBytes = comp ? Buffer.from(name, 'latin1') : Buffer.from(name, 'utf16le');
    const sk = this.keyField(parentOff, 'sk');
    const off = this.store.alloc(NK.name + nameBytes.length);
    const p = BASE_BLOCK_SIZE + off + 4;
    const b = this.buf;
    b.write('nk', p, 'latin1');
    b.writeUInt16LE(comp ? KEY_COMP_NAME : 0, p + NK.flags);
    b.writeBigUInt64LE(toFiletime(new Date()), p + NK.stamp);
    b.writeUInt32LE(parentOff, p + NK.parent);
    for (const f of ['subList', 'volList', 'valList', 'cls'] as const) b.writeUInt32LE(NIL, p + NK[f]);
    b.writeUInt32LE(sk, p + NK.sk);
    b.writeUInt16LE(nameBytes.length, p + NK.nameLen);
    nameBytes.copy(b, p + NK.name);
    if (sk !== NIL && this.store.isAllocated(sk)) {
      const s = this.store.cellAtLeast(sk, 20, 'security');
      if (b.toString('latin1', s.pos, s.pos + 2) === 'sk') b.writeUInt32LE(b.readUInt32LE(s.pos + 12) + 1, s.pos + 12);
    }
    children.splice(-(at + 1), 0, { off, up });
    this.setKeyField(parentOff, 'nSub', children.length);
    const pp = this.nk(parentOff);
    const maxName = b.readUInt32LE(pp + NK.maxName);
    if ((maxName & 0xffff) < name.length * 2) b.writeUInt32LE(((maxName & 0xffff0000) | (name.length * 2)) >>> 0, pp + NK.maxName);
    this.touch(parentOff);
    return off;
  }

  deleteChild(parentOff: number, name: string): boolean {
    const target = this.findChild(parentOff, name);
    if (target === undefined) return false;
    this.assertWritable();
    const children = this.editChildren(parentOff);
    this.freeSubtree(target); // throws before freeing anything if the subtree is damaged
    children.splice(children.findIndex((c) => c.off === target), 1);
    this.setKeyField(parentOff, 'nSub', children.length);
    let maxName = 0;
    let maxCls = 0;
    for (const c of children) {
      maxName = Math.max(maxName, c.up.length * 2);
      maxCls = Math.max(maxCls, this.buf.readUInt16LE(this.nk(c.off) + NK.clsLen));
    }
    const pp = this.nk(parentOff);
    this.buf.writeUInt32LE(((this.buf.readUInt32LE(pp + NK.maxName) & 0xffff0000) | maxName) >>> 0, pp + NK.maxName);
    this.buf.writeUInt32LE(maxCls, pp + NK.maxCls);
    this.touch(parentOff);
    return true;
  }

  private derefSecurity(sk: number): void {
    if (!this.store.isAllocated(sk)) return;
    const s = this.store.cell(sk, 'security');
    const b = this.buf;
    if (s.len < 20 || b.toString('latin1', s.pos, s.pos + 2) !== 'sk') return;
    const refs = b.readUInt32LE(s.pos + 12);
    if (refs > 1) {
      b.writeUInt32LE(refs - 1, s.pos + 12);
      return;
    }
    // last reference: unlink from the circular flink/blink list and free
    const flink = b.readUInt32LE(s.pos + 4);
    const blink = b.readUInt32LE(s.pos + 8);
    if (flink !== sk && this.store.isAllocated(flink) && this.store.isAllocated(blink)) {
      b.writeUInt32LE(flink, this.store.cellAtLeast(blink, 20, 'security').pos + 4);
      b.writeUInt32LE(blink, this.store.cellAtLeast(flink, 20, 'security').pos + 8);
      this.store.free(sk);
    }
  }

  /** Free a key, its values, class name, security reference and all keys below it. */
  private freeSubtree(top: number): void {
    // first read the whole subtree (loops, bad cells throw here, before anything is freed)
    const stack = [top];
    const seen = new Set<number>();
    const order: { off: number; children: number[] }[] = [];
    while (stack.length) {
      const off = stack.pop()!;
      if (seen.has(off)) throw hiveError('HIVE_CYCLE', `The key at 0x${off.toString(16)} is its own descendant.`, { offset: off });
      seen.add(off);
      const children = this.childOffsets(off);
      for (const v of this.valueOffsets(off)) this.vk(v);
      stack.push(...children);
      order.push({ off, children });
    }
    for (const { off, children } of order) {
      const pending = this.pendingChildren.get(off);
      this.pendingChildren.delete(off);
      if (!pending) {
        const sl = this.keyField(off, 'subList');
        if (children.length && sl !== NIL) for (const c of this.listCells(sl)) this.store.free(c);
      }
      for (const v of this.valueOffsets(off)) {
        this.freeData(this.vk(v));
        this.store.free(v);
      }
      const vl = this.keyField(off, 'valList');
      if (vl !== NIL) this.store.free(vl);
      const cls = this.keyField(off, 'cls');
      if (cls !== NIL) this.store.free(cls);
      this.derefSecurity(this.keyField(off, 'sk'));
      this.keys.get(off)?.markDeleted();
      this.keys.delete(off);
      this.store.free(off);
    }
  }

  /** Write the in-memory child lists as lh (lf before 1.5) leaves, with an ri over them when long. */
  private flushChildren(): void {
    for (const [off, children] of this.pendingChildren) {
      let list = NIL;
      if (children.length > 0 && children.length <= LEAF_MAX) list = this.writeLeaf(children);
      else if (children.length > LEAF_MAX) {
        const leaves: number[] = [];
        for (let i = 0; i < children.length; i += LEAF_SPLIT) leaves.push(this.writeLeaf(children.slice(i, i + LEAF_SPLIT)));
        list = this.store.alloc(4 + leaves.length * 4);
        const p = BASE_BLOCK_SIZE + list + 4;
        this.buf.write('ri', p, 'latin1');
        this.buf.writeUInt16LE(leaves.length, p + 2);
        leaves.forEach((l, i) => this.buf.writeUInt32LE(l, p + 4 + i * 4));
      }
      this.setKeyField(off, 'subList', list);
      this.setKeyField(off, 'nSub', children.length);
    }
    this.pendingChildren.clear();
  }

  private writeLeaf(children: Child[]): number {
    const lh = this.minor >= 5;
    const off = this.store.alloc(4 + children.length * 8);
    const p = BASE_BLOCK_SIZE + off + 4;
    const b = this.buf;
    b.write(lh ? 'lh' : 'lf', p, 'latin1');
    b.writeUInt16LE(children.length, p + 2);
    children.forEach((c, i) => {
      b.writeUInt32LE(c.off, p + 4 + i * 8);
      if (lh) b.writeUInt32LE(lhHash(this.keyName(c.off)), p + 8 + i * 8);
      else {
        // lf hint: the first four characters of the name as stored (Latin-1 bytes, or 0 for others)
        const name = this.keyName(c.off);
        for (let k = 0; k < 4; k++) {
          const ch = k < name.length ? name.charCodeAt(k) : 0;
          b[p + 8 + i * 8 + k] = ch <= 0xff ? ch : 0;
        }
      }
    });
    return off;
  }

  /**
   * Serialise: write pending lists and a clean base block (both sequence numbers = `seq`).
   * Returns a view of the image (valid until the next edit).
   */
  serialize(seq: number, when = new Date()): Buffer {
    this.flushChildren();
    writeCleanBaseBlock(this.store.buf, seq, this.store.binsSize, when);
    // the first hbin's timestamp backs up the base block's (regf spec, "Hive bin" note 3)
    this.store.buf.writeBigUInt64LE(toFiletime(when), BASE_BLOCK_SIZE + 20);
    return this.store.image();
  }

  // ---- keys -----------------------------------------------------------------------------------

  keyAt(off: number, path: string): KeyImpl {
    let k = this.keys.get(off);
    if (!k) {
      this.nk(off);
      k = new KeyImpl(this, off, path);
      this.keys.set(off, k);
    }
    return k;
  }

  get root(): HiveKey {
    return this.keyAt(this.rootOff, '');
  }

  /** The key at a backslash path from the root (case-insensitive), or undefined. */
  key(path: string): HiveKey | undefined {
    let off = this.rootOff;
    let p = '';
    for (const part of splitPath(path)) {
      const c = this.findChild(off, part);
      if (c === undefined) return undefined;
      off = c;
      p = p ? `${p}\\${this.keyName(c)}` : this.keyName(c);
    }
    return this.keyAt(off, p);
  }

  /** The key at a path, created with its missing parents. */
  ensureKey(path: string): HiveKey {
    return this.root.createKey(path);
  }

  isRootFlagged(): boolean {
    return (this.buf.readUInt16LE(this.nk(this.rootOff) + NK.flags) & KEY_HIVE_ENTRY) !== 0;
  }
}

export class KeyImpl implements HiveKey {
  private deleted = false;
  constructor(
    private readonly hive: HiveImage,
    readonly offset: number,
    readonly path: string,
  ) {}

  markDeleted(): void {
    this.deleted = true;
  }

  private off(): number {
    if (this.deleted) throw hiveError('HIVE_KEY_DELETED', `The key ${this.path || '(root)'} was deleted.`, { path: this.path });
    return this.offset;
  }

  private childPath(name: string): string {
    return this.path ? `${this.path}\\${name}` : name;
  }

  get name(): string {
    return this.hive.keyName(this.off());
  }

  get lastWritten(): Date {
    return this.hive.keyStamp(this.off());
  }

  get className(): string | undefined {
    return this.hive.className(this.off());
  }

  subkeys(): HiveKey[] {
    return this.hive.childOffsets(this.off()).map((c) => this.hive.keyAt(c, this.childPath(this.hive.keyName(c))));
  }

  subkey(name: string): HiveKey | undefined {
    const c = this.hive.findChild(this.off(), name);
    return c === undefined ? undefined : this.hive.keyAt(c, this.childPath(this.hive.keyName(c)));
  }

  values(): RegValue[] {
    return this.hive.valueOffsets(this.off()).map((v) => this.hive.regValue(v));
  }

  value(name: string): RegValue | undefined {
    const v = this.hive.findValue(this.off(), name);
    return v === undefined ? undefined : this.hive.regValue(v);
  }

  setValue(name: string, type: number, data: RegData): void {
    this.hive.setValue(this.off(), name, type, data);
  }

  deleteValue(name: string): boolean {
    return this.hive.deleteValue(this.off(), name);
  }

  createKey(relPath: string): HiveKey {
    let off = this.off();
    let path = this.path;
    for (const part of splitPath(relPath)) {
      const existing = this.hive.findChild(off, part);
      off = existing ?? this.hive.createChild(off, part);
      const name = this.hive.keyName(off);
      path = path ? `${path}\\${name}` : name;
    }
    return this.hive.keyAt(off, path);
  }

  deleteKey(name: string): boolean {
    const parts = splitPath(name);
    if (parts.length === 0) throw hiveError('HIVE_BAD_NAME', 'deleteKey needs a subkey name.', {});
    let off = this.off();
    for (const part of parts.slice(0, -1)) {
      const c = this.hive.findChild(off, part);
      if (c === undefined) return false;
      off = c;
    }
    return this.hive.deleteChild(off, parts[parts.length - 1]!);
  }
}
