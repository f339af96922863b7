/**
 * VHDX log (MS-VHDX §2.3): find the active sequence and replay it into an in-memory overlay, so a
 * dirty VHDX reads correctly while the source file stays untouched (qemu-img refuses this
 * read-only: "opened read-only, but contains a log that needs to be replayed").
 * `buildLogEntry` writes entries from the spec, for fixtures and tests.
 */
import type { ByteSource } from '../types.js';
import { readExact } from '../io/file.js';
import { crc32cWithZeroField } from '../format-kit/crc32c.js';
import { formatError } from '../format-kit/fields.js';
import { MiB, type VhdxHeader } from './layout.js';

const SECTOR = 4096;
const SIG_LOGE = 0x65676f6c; // "loge"
const SIG_ZERO = 0x6f72657a; // "zero"
const SIG_DESC = 0x63736564; // "desc"
const SIG_DATA = 0x61746164; // "data"
/** Refuse logs and replays beyond these (a real log is 1 MiB; guards memory against damaged files). */
const MAX_LOG = 256 * MiB;
const MAX_OVERLAY_PAGES = 1 << 18; // 1 GiB of replayed pages

interface Entry {
  offset: number;
  length: number;
  tail: number;
  seq: bigint;
  flushedFileOffset: bigint;
  lastFileOffset: bigint;
  ops: ({ kind: 'data'; fileOffset: number; data: Buffer } | { kind: 'zero'; fileOffset: number; length: number })[];
}

export interface Overlay {
  /** 4 KiB pages by file offset (a shared zero page for zero descriptors). */
  pages: Map<number, Buffer>;
  /** The file size after replay (≥ the real size: LastFileOffset and writes past EOF extend it). */
  size: number;
  entries: number;
}

/** Read the log and return the replay overlay, or undefined when no replay is needed. */
export async function replayLog(src: ByteSource, h: VhdxHeader): Promise<Overlay | undefined> {
  if (h.logGuid.equals(Buffer.alloc(16)) || h.logLength === 0) return undefined;
  if (h.logVersion !== 0) throw formatError('VHDX', 'LOG_INVALID', `VHDX log version ${h.logVersion} is not supported (only 0).`);
  if (h.logOffset < MiB || h.logOffset % MiB || h.logLength % MiB || h.logLength > MAX_LOG) {
    throw formatError('VHDX', 'LOG_INVALID', `The VHDX log region (offset ${h.logOffset}, length ${h.logLength}) is invalid.`);
  }
  if (h.logOffset + h.logLength > src.size) {
    throw formatError('VHDX', 'PAST_EOF', `The VHDX log (offset ${h.logOffset}, length ${h.logLength}) lies past the end of the file (${src.size}).`);
  }
  const log = await readExact(src, h.logOffset, h.logLength);
  const active = findActiveSequence(log, h.logGuid);
  if (!active.length) {
    throw formatError('VHDX', 'LOG_INVALID', 'The VHDX header names a log but the log holds no valid sequence.', 'The file is corrupt; restore it from a backup.');
  }
  const head = active[active.length - 1];
  if (BigInt(src.size) < head.flushedFileOffset) {
    throw formatError('VHDX', 'LOG_FILE_TRUNCATED', `The VHDX file (${src.size} bytes) is shorter than the log's FlushedFileOffset (${head.flushedFileOffset}).`, 'The file was truncated; copy it again.');
  }
  const pages = new Map<number, Buffer>();
  const zeroPage = Buffer.alloc(SECTOR);
  let size = Math.max(src.size, Number(head.lastFileOffset));
  for (const e of active) {
    for (const op of e.ops) {
      if (op.kind === 'data') pages.set(op.fileOffset, op.data);
      else for (let p = 0; p < op.length; p += SECTOR) pages.set(op.fileOffset + p, zeroPage);
      if (pages.size > MAX_OVERLAY_PAGES) throw formatError('VHDX', 'LOG_TOO_LARGE', 'The VHDX log replays more than 1 GiB.');
      size = Math.max(size, op.fileOffset + (op.kind === 'data' ? SECTOR : op.length));
    }
  }
  return { pages, size, entries: active.length };
}

/** §2.3.3: scan for sequences, keep the valid one with the highest head sequence number. */
function findActiveSequence(log: Buffer, logGuid: Buffer): Entry[] {
  const len = log.length;
  let best: Entry[] = [];
  let curTail = 0;
  let oldTail = 0;
  for (;;) {
    const seq: Entry[] = [];
    let pos = curTail;
    let spanned = 0;
    for (;;) {
      const e = parseEntry(log, pos, logGuid);
      if (!e || (seq.length && e.seq !== seq[seq.length - 1].seq + 1n) || spanned + e.length > len) break;
      seq.push(e);
      spanned += e.length;
      pos = (pos + e.length) % len;
    }
    let valid = false;
    if (seq.length) {
      const headTail = seq[seq.length - 1].tail;
      const start = seq.findIndex((e) => e.offset === headTail);
      if (start >= 0) {
        valid = true;
        const cand = seq.slice(start);
        if (!best.length || cand[cand.length - 1].seq > best[best.length - 1].seq) best = cand;
      }
    }
    if (!valid) {
      curTail += SECTOR;
      if (curTail >= len) curTail = 0;
    } else curTail = pos % len;
    if (curTail < oldTail || (valid && curTail === oldTail && seq.length)) break;
    oldTail = curTail;
  }
  return best;
}

/** Copy `n` bytes of the ring buffer from `pos`, wrapping at the end. */
function ring(log: Buffer, pos: number, n: number): Buffer {
  if (pos + n <= log.length) return log.subarray(pos, pos + n);
  const out = Buffer.allocUnsafe(n);
  const first = log.length - pos;
  log.copy(out, 0, pos);
  log.copy(out, first, 0, n - first);
  return out;
}

function parseEntry(log: Buffer, pos: number, logGuid: Buffer): Entry | undefined {
  const len = log.length;
  if (log.readUInt32LE(pos) !== SIG_LOGE) return undefined;
  const length = log.readUInt32LE(pos + 8);
  if (length < SECTOR || length % SECTOR || length > len) return undefined;
  const buf = ring(log, pos, length);
  const tail = buf.readUInt32LE(12);
  const seq = buf.readBigUInt64LE(16);
  const count = buf.readUInt32LE(24);
  if (tail % SECTOR || tail >= len || seq === 0n) return undefined;
  if (!buf.subarray(32, 48).equals(logGuid)) return undefined;
  const descSectors = Math.ceil((64 + count * 32) / SECTOR);
  if (descSectors * SECTOR > length) return undefined;
  if (crc32cWithZeroField(Buffer.from(buf), 4) !== buf.readUInt32LE(4)) return undefined;
  const ops: Entry['ops'] = [];
  let dataAt = descSectors * SECTOR;
  for (let i = 0; i < count; i++) {
    const d = 64 + i * 32;
    const sig = buf.readUInt32LE(d);
    if (buf.readBigUInt64LE(d + 24) !== seq) return undefined;
    const fileOffset = buf.readBigUInt64LE(d + 16);
    if (fileOffset % 4096n || fileOffset > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    if (sig === SIG_ZERO) {
      const zl = buf.readBigUInt64LE(d + 8);
      if (zl % 4096n || zl > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
      ops.push({ kind: 'zero', fileOffset: Number(fileOffset), length: Number(zl) });
    } else if (sig === SIG_DESC) {
      if (dataAt + SECTOR > length) return undefined;
      const s = buf.subarray(dataAt, dataAt + SECTOR);
      if (s.readUInt32LE(0) !== SIG_DATA || s.readUInt32LE(4) !== Number(seq >> 32n) || s.readUInt32LE(4092) !== Number(seq & 0xffffffffn)) return undefined;
      // §2.3.1.4: bytes 0–7 and 4092–4095 of the update live in the descriptor.
      const data = Buffer.allocUnsafe(SECTOR);
      buf.copy(data, 0, d + 8, d + 16);
      s.copy(data, 8, 8, 4092);
      buf.copy(data, 4092, d + 4, d + 8);
      ops.push({ kind: 'data', fileOffset: Number(fileOffset), data });
      dataAt += SECTOR;
    } else return undefined;
  }
  return { offset: pos, length, tail, seq, flushedFileOffset: buf.readBigUInt64LE(48), lastFileOffset: buf.readBigUInt64LE(56), ops };
}

/** Build one log entry (§2.3.1) — used to make dirty-log fixtures with our own writer. */
export function buildLogEntry(o: {
  seq: bigint;
  tail: number;
  logGuid: Buffer;
  flushedFileOffset: number;
  lastFileOffset: number;
  writes: { fileOffset: number; data: Buffer }[];
  zeros?: { fileOffset: number; length: number }[];
}): Buffer {
  const zeros = o.zeros ?? [];
  const count = o.writes.length + zeros.length;
  const descSectors = Math.ceil((64 + count * 32) / SECTOR);
  const length = (descSectors + o.writes.length) * SECTOR;
  const b = Buffer.alloc(length);
  b.writeUInt32LE(SIG_LOGE, 0);
  b.writeUInt32LE(length, 8);
  b.writeUInt32LE(o.tail, 12);
  b.writeBigUInt64LE(o.seq, 16);
  b.writeUInt32LE(count, 24);
  o.logGuid.copy(b, 32);
  b.writeBigUInt64LE(BigInt(o.flushedFileOffset), 48);
  b.writeBigUInt64LE(BigInt(o.lastFileOffset), 56);
  let d = 64;
  for (const z of zeros) {
    b.writeUInt32LE(SIG_ZERO, d);
    b.writeBigUInt64LE(BigInt(z.length), d + 8);
    b.writeBigUInt64LE(BigInt(z.fileOffset), d + 16);
    b.writeBigUInt64LE(o.seq, d + 24);
    d += 32;
  }
  let at = descSectors * SECTOR;
  for (const w of o.writes) {
    b.writeUInt32LE(SIG_DESC, d);
    w.data.copy(b, d + 4, 4092, 4096);
    w.data.copy(b, d + 8, 0, 8);
    b.writeBigUInt64LE(BigInt(w.fileOffset), d + 16);
    b.writeBigUInt64LE(o.seq, d + 24);
    d += 32;
    b.writeUInt32LE(SIG_DATA, at);
    b.writeUInt32LE(Number(o.seq >> 32n), at + 4);
    w.data.copy(b, at + 8, 8, 4092);
    b.writeUInt32LE(Number(o.seq & 0xffffffffn), at + 4092);
    at += SECTOR;
  }
  b.writeUInt32LE(crc32cWithZeroField(b, 4), 4);
  return b;
}
