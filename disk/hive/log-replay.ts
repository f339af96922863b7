/**
 * In-memory replay of hive transaction logs (regf spec, "Format of transaction log files",
 * "Dirty state of a hive", "Multiple transaction log files"). Pure: buffers in, buffer out.
 *
 * New format (Windows 8.1+, file type 6): HvLE entries from sector 1 on, each with a sequence
 * number, the hive bins size, dirty page references and two Marvin32 hashes. We take the valid
 * entries of all logs, sorted by sequence number, starting at the primary's secondary sequence
 * number, and apply them while the numbers are consecutive. The spec stops when the first entry
 * is not exactly the secondary number; we start at the lowest one above it instead (the
 * "partial reconcile" case, where the primary already holds the skipped entries' pages).
 * A bad hash or size stops at that entry.
 * Old format (file type 1/2): a 'DIRT' bitmap of 512-byte pages after sector 0, then the pages;
 * applied when the log's base block is valid and its timestamp equals the primary's.
 */
import { BASE_BLOCK_SIZE, FILE_TYPE_LOG_NEW, FILE_TYPE_LOG_OLD, FILE_TYPE_LOG_OLD2, FILE_TYPE_PRIMARY, baseBlockChecksum, parseBaseBlock, type BaseBlock } from './base-block.js';
import { marvin32 } from './marvin32.js';

export interface LogInput {
  name: string;
  data: Buffer;
}

export interface LogEntry {
  log: string;
  seq: number;
  binsSize: number;
  pages: { offset: number; data: Buffer }[];
}

export interface ReplayResult {
  /** The recovered file image (base block + bins), or undefined if nothing applied. */
  image?: Buffer;
  applied: { log: string; entries: number; firstSeq?: number; lastSeq?: number; format: 'new' | 'old' }[];
  /** Highest sequence number seen in any log (base blocks and entries): our next write must exceed it. */
  maxLogSeq: number;
  /** Highest sequence number of a valid HvLE entry (-1 when none). */
  maxEntrySeq: number;
  /** Why nothing was applied (for the HIVE_DIRTY message). */
  reason?: string;
}

function tryBase(b: Buffer): BaseBlock | undefined {
  try {
    return parseBaseBlock(b, 0);
  } catch {
    return undefined;
  }
}

/** Parse the valid HvLE entries of a new-format log. Stops at the first invalid entry. */
export function parseNewLog(name: string, data: Buffer): LogEntry[] {
  const out: LogEntry[] = [];
  let off = 512;
  while (off + 40 <= data.length) {
    if (data.toString('latin1', off, off + 4) !== 'HvLE') break;
    const size = data.readUInt32LE(off + 4);
    if (size < 40 || size % 512 !== 0 || off + size > data.length) break;
    const seq = data.readUInt32LE(off + 12);
    const binsSize = data.readUInt32LE(off + 16);
    const count = data.readUInt32LE(off + 20);
    const h1 = data.readBigUInt64LE(off + 24);
    const h2 = data.readBigUInt64LE(off + 32);
    if (binsSize === 0 || binsSize % 4096 !== 0) break;
    if (count > (size - 40) / 8) break;
    if (marvin32(data.subarray(off, off + 32)) !== h2) break;
    if (marvin32(data.subarray(off + 40, off + size)) !== h1) break;
    const pages: LogEntry['pages'] = [];
    let p = off + 40 + count * 8;
    let ok = true;
    for (let i = 0; i < count; i++) {
      const po = data.readUInt32LE(off + 40 + i * 8);
      const ps = data.readUInt32LE(off + 44 + i * 8);
      if (ps === 0 || po + ps > binsSize || p + ps > off + size) {
        ok = false;
        break;
      }
      pages.push({ offset: po, data: data.subarray(p, p + ps) });
      p += ps;
    }
    if (!ok) break;
    out.push({ log: name, seq, binsSize, pages });
    off += size;
  }
  return out;
}

function setImageSize(img: Buffer, binsSize: number): Buffer {
  const need = BASE_BLOCK_SIZE + binsSize;
  if (img.length >= need) return img.subarray(0, need);
  const grown = Buffer.alloc(need);
  img.copy(grown);
  return grown;
}

function finishBase(img: Buffer, seq: number, binsSize: number): void {
  img.writeUInt32LE(seq >>> 0, 4);
  img.writeUInt32LE(seq >>> 0, 8);
  img.writeUInt32LE(FILE_TYPE_PRIMARY, 28);
  img.writeUInt32LE(binsSize, 40);
  img.writeUInt32LE(baseBlockChecksum(img), 508);
}

/**
 * Replay logs over a dirty primary image. Returns what was applied; never throws on bad logs
 * (a bad log is skipped, and the caller decides whether a still-dirty hive is acceptable).
 */
export function replayLogs(primary: Buffer, logs: LogInput[]): ReplayResult {
  const pb = tryBase(primary);
  // New bins can only come from log pages: bound the size a log may claim (no 4 GiB allocation from a bad log).
  const maxBins = Math.min(0x7ffff000, Math.max(0, primary.length - BASE_BLOCK_SIZE) + logs.reduce((n, l) => n + l.data.length, 0));
  const result: ReplayResult = { applied: [], maxLogSeq: 0, maxEntrySeq: -1 };
  const newEntries: LogEntry[] = [];
  const oldLogs: { name: string; data: Buffer; base: BaseBlock }[] = [];
  let bestLogBase: { data: Buffer; base: BaseBlock } | undefined;
  for (const l of logs) {
    const lb = tryBase(l.data);
    if (!lb || !lb.checksumOk) continue;
    result.maxLogSeq = Math.max(result.maxLogSeq, lb.seq1, lb.seq2);
    if (lb.fileType === FILE_TYPE_LOG_NEW) {
      const entries = parseNewLog(l.name, l.data);
      for (const e of entries) {
        result.maxLogSeq = Math.max(result.maxLogSeq, e.seq);
        result.maxEntrySeq = Math.max(result.maxEntrySeq, e.seq);
      }
      newEntries.push(...entries);
      if (!bestLogBase || lb.seq2 > bestLogBase.base.seq2) bestLogBase = { data: l.data, base: lb };
    } else if (lb.fileType === FILE_TYPE_LOG_OLD || lb.fileType === FILE_TYPE_LOG_OLD2) {
      if (lb.seq1 === lb.seq2) oldLogs.push({ name: l.name, data: l.data, base: lb });
    }
  }

  // The base block to start from: the primary's, or a log's copy when the primary's checksum is bad.
  let img: Buffer;
  let startSeq: number;
  if (pb && pb.checksumOk) {
    img = Buffer.from(primary);
    startSeq = pb.seq2;
  } else if (bestLogBase) {
    img = Buffer.alloc(Math.max(primary.length, BASE_BLOCK_SIZE));
    primary.copy(img);
    img.fill(0, 0, BASE_BLOCK_SIZE);
    bestLogBase.data.copy(img, 0, 0, 512);
    startSeq = bestLogBase.base.seq2;
  } else if (oldLogs.length) {
    img = Buffer.alloc(Math.max(primary.length, BASE_BLOCK_SIZE));
    primary.copy(img);
    img.fill(0, 0, BASE_BLOCK_SIZE);
    oldLogs[0]!.data.copy(img, 0, 0, 512);
    startSeq = oldLogs[0]!.base.seq2;
  } else {
    result.reason = 'no valid base block in the primary file or the logs';
    return result;
  }

  if (newEntries.length) {
    newEntries.sort((a, b) => a.seq - b.seq);
    let expected: number | undefined;
    let binsSize = img.readUInt32LE(40);
    let lastSeq = 0;
    const perLog = new Map<string, { entries: number; firstSeq: number; lastSeq: number }>();
    for (const e of newEntries) {
      if (e.seq < startSeq) continue;
      if (expected !== undefined && e.seq < expected) continue; // same sequence number in both logs: first wins
      if (expected !== undefined && e.seq !== expected) break;
      if (e.binsSize > maxBins) break;
      img = setImageSize(img, e.binsSize);
      for (const p of e.pages) p.data.copy(img, BASE_BLOCK_SIZE + p.offset);
      binsSize = e.binsSize;
      lastSeq = e.seq;
      expected = e.seq + 1;
      const s = perLog.get(e.log) ?? { entries: 0, firstSeq: e.seq, lastSeq: e.seq };
      s.entries++;
      s.lastSeq = e.seq;
      perLog.set(e.log, s);
    }
    if (perLog.size) {
      finishBase(img, lastSeq, binsSize);
      for (const [log, s] of perLog) result.applied.push({ log, format: 'new', ...s });
      result.image = img;
      return result;
    }
  }

  const primaryStamp = pb && pb.checksumOk ? pb.lastWritten : undefined;
  for (const l of oldLogs) {
    if (primaryStamp !== undefined && l.base.lastWritten !== primaryStamp) continue;
    if (l.data.toString('latin1', 512, 516) !== 'DIRT') continue;
    const bins = l.base.binsSize;
    if (bins === 0 || bins % 4096 !== 0 || bins > maxBins) continue;
    const bits = bins / 512;
    const bitmapBytes = Math.ceil(bits / 8);
    if (516 + bitmapBytes > l.data.length) continue;
    let pagePos = Math.ceil((516 + bitmapBytes) / 512) * 512;
    const out = setImageSize(img, bins);
    let ok = true;
    let pages = 0;
    for (let i = 0; i < bits && ok; i++) {
      if (!(l.data[516 + (i >> 3)]! & (1 << (i & 7)))) continue;
      if (pagePos + 512 > l.data.length) ok = false;
      else l.data.copy(out, BASE_BLOCK_SIZE + i * 512, pagePos, pagePos + 512);
      pagePos += 512;
      pages++;
    }
    if (!ok) continue;
    finishBase(out, l.base.seq2, bins);
    result.applied.push({ log: l.name, format: 'old', entries: pages });
    result.image = out;
    return result;
  }
  result.reason = newEntries.length || oldLogs.length ? 'the logs hold no entries that follow the primary file' : 'no valid transaction log';
  return result;
}
