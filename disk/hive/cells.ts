/**
 * The hive bins data in memory and its cells (regf spec, "Hive bin", "Cell"): bounds-checked
 * access to cells, allocation that reuses free cells (best fit by size class, split when the
 * rest is worth keeping) or appends a new hbin, and freeing with zero-fill and merging with
 * the following free cell. Offsets are relative to the start of the hive bins data (file 0x1000).
 * Pure: works on a Buffer; file I/O lives in hive-file.ts.
 */
import { hiveError } from './errors.js';
import { BASE_BLOCK_SIZE } from './base-block.js';

const HBIN_HEADER = 32;
/** Free cells up to this size are kept in exact size classes; bigger ones in one set. */
const CLASS_LIMIT = 16384;
export const NIL = 0xffffffff;

export interface HbinInfo {
  offset: number;
  size: number;
}

export class CellStore {
  /** The whole file image (base block + hive bins); capacity may exceed the used length. */
  buf: Buffer;
  binsSize: number;
  readonly hbins: HbinInfo[] = [];
  private readonly classes: (Set<number> | undefined)[] = [];
  private readonly large = new Set<number>();
  /** Cells scanned at open: count of allocated and free, bytes free. */
  stats = { allocated: 0, free: 0, freeBytes: 0 };

  constructor(buf: Buffer, binsSize: number) {
    this.buf = buf;
    this.binsSize = binsSize;
    this.scan();
  }

  /** Walk all hbins and their cells once: validates the layout and collects the free cells. */
  private scan(): void {
    const b = this.buf;
    let off = 0;
    while (off < this.binsSize) {
      const p = BASE_BLOCK_SIZE + off;
      if (b.toString('latin1', p, p + 4) !== 'hbin') throw hiveError('HIVE_BAD_HBIN', `No hbin signature at bins offset 0x${off.toString(16)}.`, { offset: off });
      const selfOff = b.readUInt32LE(p + 4);
      const size = b.readUInt32LE(p + 8);
      if (selfOff !== off) throw hiveError('HIVE_BAD_HBIN', `The hbin at 0x${off.toString(16)} says it is at 0x${selfOff.toString(16)}.`, { offset: off, selfOffset: selfOff });
      if (size < 4096 || size % 4096 !== 0 || off + size > this.binsSize) throw hiveError('HIVE_BAD_HBIN', `The hbin at 0x${off.toString(16)} has a bad size ${size}.`, { offset: off, size });
      this.hbins.push({ offset: off, size });
      let c = off + HBIN_HEADER;
      const end = off + size;
      while (c < end) {
        const raw = b.readInt32LE(BASE_BLOCK_SIZE + c);
        const len = Math.abs(raw);
        if (len < 8 || len % 8 !== 0 || c + len > end) {
          throw hiveError('HIVE_BAD_CELL', `Cell at 0x${c.toString(16)} has a bad size ${raw}.`, { offset: c, size: raw, hbin: off });
        }
        if (raw > 0) {
          this.addFree(c, len);
          this.stats.free++;
          this.stats.freeBytes += len;
        } else this.stats.allocated++;
        c += len;
      }
      off += size;
    }
  }

  /** File position of a cell's data and its usable length; throws unless it is an allocated cell inside the bins. */
  cell(off: number, what = 'cell'): { pos: number; len: number } {
    if (off === NIL || off % 8 !== 0 || off < HBIN_HEADER || off + 8 > this.binsSize) {
      throw hiveError('HIVE_BAD_OFFSET', `The ${what} offset 0x${off.toString(16)} is outside the hive bins or misaligned.`, { offset: off, what });
    }
    const raw = this.buf.readInt32LE(BASE_BLOCK_SIZE + off);
    if (raw >= 0) throw hiveError('HIVE_BAD_CELL', `The ${what} at 0x${off.toString(16)} points to a free cell.`, { offset: off, what });
    const len = -raw;
    if (len < 8 || off + len > this.binsSize) throw hiveError('HIVE_BAD_CELL', `The ${what} at 0x${off.toString(16)} has a bad size ${raw}.`, { offset: off, what });
    return { pos: BASE_BLOCK_SIZE + off + 4, len: len - 4 };
  }

  /** Like cell(), and the cell must hold at least `minLen` data bytes (so fixed fields can be read). */
  cellAtLeast(off: number, minLen: number, what: string): { pos: number; len: number } {
    const c = this.cell(off, what);
    if (c.len < minLen) throw hiveError('HIVE_BAD_CELL', `The ${what} at 0x${off.toString(16)} is too small (${c.len} bytes).`, { offset: off, what });
    return c;
  }

  isAllocated(off: number): boolean {
    if (off === NIL || off % 8 !== 0 || off < HBIN_HEADER || off + 8 > this.binsSize) return false;
    return this.buf.readInt32LE(BASE_BLOCK_SIZE + off) < 0;
  }

  /** Two-letter signature of a cell (nk, vk, sk, lf, lh, li, ri, db) or '' if none. */
  sig(off: number): string {
    const { pos } = this.cell(off);
    return this.buf.toString('latin1', pos, pos + 2);
  }

  private addFree(off: number, len: number): void {
    if (len <= CLASS_LIMIT) {
      const k = len >>> 3;
      let s = this.classes[k];
      if (!s) this.classes[k] = s = new Set();
      s.add(off);
    } else this.large.add(off);
  }

  private removeFree(off: number, len: number): void {
    if (len <= CLASS_LIMIT) this.classes[len >>> 3]?.delete(off);
    else this.large.delete(off);
  }

  /** Allocate a zero-filled cell with at least `dataLen` bytes of data; returns its offset. */
  alloc(dataLen: number): number {
    const need = (dataLen + 4 + 7) & ~7;
    let found = -1;
    let foundLen = 0;
    if (need <= CLASS_LIMIT) {
      // exact fit, or a cell big enough to split with a useful rest (>= 16 bytes)
      const exact = this.classes[need >>> 3];
      if (exact && exact.size) {
        found = exact.values().next().value as number;
        foundLen = need;
      } else {
        for (let k = (need + 16) >>> 3; k <= CLASS_LIMIT >>> 3; k++) {
          const s = this.classes[k];
          if (s && s.size) {
            found = s.values().next().value as number;
            foundLen = k << 3;
            break;
          }
        }
      }
    }
    if (found < 0) {
      for (const off of this.large) {
        const len = this.buf.readInt32LE(BASE_BLOCK_SIZE + off);
        if (len >= need + 16 || len === need) {
          found = off;
          foundLen = len;
          break;
        }
      }
    }
    if (found < 0) {
      found = this.appendHbin(need);
      foundLen = this.buf.readInt32LE(BASE_BLOCK_SIZE + found);
    }
    this.removeFree(found, foundLen);
    const p = BASE_BLOCK_SIZE + found;
    if (foundLen - need >= 16) {
      this.buf.writeInt32LE(foundLen - need, p + need);
      this.addFree(found + need, foundLen - need);
      foundLen = need;
    }
    this.buf.fill(0, p + 4, p + foundLen);
    this.buf.writeInt32LE(-foundLen, p);
    return found;
  }

  /** Free a cell: zero its data (deleted secrets must not linger), merge with a free successor. */
  free(off: number): void {
    if (!this.isAllocated(off)) return;
    const p = BASE_BLOCK_SIZE + off;
    let len = -this.buf.readInt32LE(p);
    const hbin = this.hbinOf(off);
    const next = off + len;
    if (hbin && next < hbin.offset + hbin.size) {
      const nraw = this.buf.readInt32LE(BASE_BLOCK_SIZE + next);
      if (nraw > 0) {
        this.removeFree(next, nraw);
        len += nraw;
      }
    }
    this.buf.fill(0, p + 4, p + len);
    this.buf.writeInt32LE(len, p);
    this.addFree(off, len);
  }

  private hbinOf(off: number): HbinInfo | undefined {
    const h = this.hbins;
    let lo = 0;
    let hi = h.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const x = h[mid]!;
      if (off < x.offset) hi = mid - 1;
      else if (off >= x.offset + x.size) lo = mid + 1;
      else return x;
    }
    return undefined;
  }

  /** Append an hbin big enough for a cell of `need` bytes; returns the offset of its (free) first cell. */
  private appendHbin(need: number): number {
    const size = Math.max(4096, Math.ceil((need + HBIN_HEADER) / 4096) * 4096);
    const off = this.binsSize;
    const end = BASE_BLOCK_SIZE + off + size;
    if (end > this.buf.length) {
      // grow by a quarter (at least 4 MiB): amortised for bulk edits, modest for 100+ MiB SOFTWARE hives
      const grown = Buffer.allocUnsafe(Math.max(end, this.buf.length + Math.max(4 << 20, this.buf.length >> 2)));
      this.buf.copy(grown, 0, 0, BASE_BLOCK_SIZE + this.binsSize);
      this.buf = grown;
    }
    const p = BASE_BLOCK_SIZE + off;
    this.buf.fill(0, p, p + size);
    this.buf.write('hbin', p, 'latin1');
    this.buf.writeUInt32LE(off, p + 4);
    this.buf.writeUInt32LE(size, p + 8);
    this.buf.writeInt32LE(size - HBIN_HEADER, p + HBIN_HEADER);
    this.binsSize += size;
    this.hbins.push({ offset: off, size });
    this.addFree(off + HBIN_HEADER, size - HBIN_HEADER);
    return off + HBIN_HEADER;
  }

  /** The file image to write: base block + hive bins, no slack. */
  image(): Buffer {
    return this.buf.subarray(0, BASE_BLOCK_SIZE + this.binsSize);
  }
}
