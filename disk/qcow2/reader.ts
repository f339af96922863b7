/**
 * Open a qcow2 (v2/v3) as a Disk: L1/L2 tables, unallocated clusters (parent or zero), zero
 * clusters (v3 flag), compressed clusters (raw deflate), backing file as parent through
 * `openRelated`/`openParent`. Refcounts are not needed for reading and are ignored.
 */
import { inflateRawSync } from 'node:zlib';
import type { ByteSource, Disk, DiskDescription, OpenOptions, Problem } from '../types.js';
import { readExact } from '../io/file.js';
import { checkInFile, formatError } from '../format-kit/fields.js';
import { chainBlocks, readExtents, type Extent } from '../format-kit/extent-read.js';
import { EXT_BACKING_FORMAT, EXT_END, INCOMPAT, parseHeader } from './layout.js';

const E = 'QCOW2';
const L2_CACHE = 64;
const MAX_L1_BYTES = 32 * 1024 * 1024; // QEMU's QCOW_MAX_L1_SIZE

/** Sync inflate: far less per-call overhead than async zlib for one cluster; bounded to one cluster. */
function inflateRawBounded(buf: Buffer, max: number): Buffer {
  return inflateRawSync(buf, { maxOutputLength: max }); // trailing sector padding is ignored; a cut stream is an error
}

export async function openQcow2(src: ByteSource, opts: OpenOptions): Promise<Disk & { check(): Promise<Problem[]> }> {
  const headBuf = await readExact(src, 0, Math.min(src.size, 4096));
  const h = parseHeader(headBuf);
  const problems: Problem[] = [];
  const cluster = 2 ** h.clusterBits;
  if (h.incompatible & BigInt(INCOMPAT.DIRTY)) problems.push({ code: 'QCOW2_DIRTY', message: 'The image is marked dirty (refcounts may be stale; data reads are unaffected).', severity: 'warning' });
  if (h.incompatible & BigInt(INCOMPAT.CORRUPT)) problems.push({ code: 'QCOW2_CORRUPT_FLAG', message: 'QEMU marked this image corrupt; data read from it may be damaged.', severity: 'error' });

  // Header extensions (after 72 bytes in v2, header_length in v3).
  let backingFormat: string | undefined;
  let at = h.version === 2 ? 72 : h.headerLength;
  const extEnd = Math.min(headBuf.length, cluster);
  for (let n = 0; at + 8 <= extEnd && n < 64; n++) {
    const type = headBuf.readUInt32BE(at), len = headBuf.readUInt32BE(at + 4);
    if (type === EXT_END) break;
    if (at + 8 + len > extEnd) throw formatError(E, 'HEADER_INVALID', 'A qcow2 header extension runs past the header cluster.');
    if (type === EXT_BACKING_FORMAT) backingFormat = headBuf.toString('utf8', at + 8, at + 8 + len);
    at += 8 + Math.ceil(len / 8) * 8;
  }

  const l2Entries = cluster / 8;
  const perL1 = cluster * l2Entries;
  const needL1 = Math.ceil(h.size / perL1);
  if (h.l1Size < needL1) throw formatError(E, 'L1_INVALID', `The qcow2 L1 table has ${h.l1Size} entries; ${needL1} are needed for ${h.size} bytes.`);
  if (h.l1Size * 8 > MAX_L1_BYTES) throw formatError(E, 'L1_INVALID', `The qcow2 L1 table (${h.l1Size} entries) is absurdly large.`);
  checkInFile(E, 'L1 table', h.l1TableOffset, needL1 * 8, src.size);
  const l1Buf = needL1 ? await readExact(src, h.l1TableOffset, needL1 * 8) : Buffer.alloc(0);
  const l1 = new Float64Array(needL1);
  for (let i = 0; i < needL1; i++) {
    const hi = l1Buf.readUInt32BE(i * 8), lo = l1Buf.readUInt32BE(i * 8 + 4);
    const off = (hi & 0x00ffffff) * 2 ** 32 + (lo & 0xfffffe00);
    if (off % cluster) throw formatError(E, 'L1_INVALID', `L1 entry ${i} points at ${off}, not cluster aligned.`);
    if (off) checkInFile(E, `L2 table ${i}`, off, cluster, src.size);
    l1[i] = off;
  }

  let parent: Disk | undefined;
  let backingName: string | undefined;
  if (h.backingFileOffset) {
    if (h.backingFileSize === 0 || h.backingFileSize > 1023) throw formatError(E, 'BACKING_INVALID', `qcow2 backing file name length ${h.backingFileSize} is invalid.`);
    checkInFile(E, 'backing file name', h.backingFileOffset, h.backingFileSize, src.size);
    backingName = (await readExact(src, h.backingFileOffset, h.backingFileSize)).toString('utf8');
    const psrc = await opts.openRelated(backingName).catch((e) => {
      throw formatError(E, 'BACKING_NOT_FOUND', `The backing file "${backingName}" of ${src.name} was not found.`, 'Put the backing file where the image names it (relative to the image).', { backing: backingName, cause: String(e?.message ?? e) });
    });
    parent = await opts.openParent(psrc, opts.depth + 1);
  }

  const cache = new Map<number, Buffer>();
  const loadL2 = async (i: number): Promise<Buffer | undefined> => {
    if (!l1[i]) return undefined;
    let t = cache.get(i);
    if (t) return t;
    t = await readExact(src, l1[i], cluster);
    if (cache.size >= L2_CACHE) cache.delete(cache.keys().next().value as number);
    cache.set(i, t);
    return t;
  };
  const virtualSize = h.size;
  const compBits = h.clusterBits - 8;
  const compShift = 62 - compBits;

  const lookup = (pos: number, max: number): Extent => {
    const c = Math.floor(pos / cluster);
    const inC = pos - c * cluster;
    const len = Math.min(max, cluster - inC);
    const i = Math.floor(c / l2Entries);
    const t = l1[i] ? cache.get(i) : undefined;
    if (l1[i] && !t) throw new Error('internal: L2 table not loaded');
    if (!t) return parent ? { kind: 'parent', length: len } : { kind: 'zero', length: len };
    const e = (c % l2Entries) * 8;
    const hi = t.readUInt32BE(e), lo = t.readUInt32BE(e + 4);
    if (hi & 0x40000000) {
      // Compressed cluster descriptor: x = 62 - (cluster_bits - 8); offset in bits 0..x-1, extra sectors in x..61.
      const v = t.readBigUInt64BE(e);
      const off = Number(v & ((1n << BigInt(compShift)) - 1n));
      const sectors = Number((v >> BigInt(compShift)) & ((1n << BigInt(compBits)) - 1n));
      const clen = Math.min((sectors + 1) * 512 - (off % 512), src.size - off);
      if (off >= src.size || clen <= 0) throw formatError(E, 'PAST_EOF', `Compressed cluster ${c} points at ${off}, past EOF.`);
      return {
        kind: 'custom', length: len,
        fill: async (dst) => {
          const raw = await readExact(src, off, clen);
          let data: Buffer;
          try {
            data = inflateRawBounded(raw, cluster);
          } catch (err) {
            throw formatError(E, 'COMPRESSED_INVALID', `Compressed cluster ${c} does not inflate: ${(err as Error).message}.`);
          }
          const n = Math.max(0, Math.min(dst.length, data.length - inC));
          if (n > 0) data.copy(dst, 0, inC, inC + n);
          if (n < dst.length) dst.fill(0, n);
        },
      };
    }
    if (h.version >= 3 && lo & 1) return { kind: 'zero', length: len };
    const off = (hi & 0x00ffffff) * 2 ** 32 + (lo & 0xfffffe00);
    if (!off) return parent ? { kind: 'parent', length: len } : { kind: 'zero', length: len };
    if (off % cluster || off + Math.min(cluster, virtualSize - c * cluster) > src.size) {
      throw formatError(E, 'PAST_EOF', `Cluster ${c} points at ${off}: unaligned or past the end of ${src.name}.`, undefined, { cluster: c, offset: off });
    }
    return { kind: 'data', length: len, fileOffset: off + inC };
  };

  const read = async (offset: number, length: number, buf?: Buffer) => {
    const end = Math.min(offset + length, virtualSize);
    for (let i = Math.floor(offset / perL1); i * perL1 < end; i++) await loadL2(i);
    return readExtents(src, parent, virtualSize, offset, length, buf, lookup);
  };

  let allocatedBytes = 0;
  const own = async function* () {
    for (let i = 0; i < needL1; i++) {
      const t = await loadL2(i);
      if (!t) continue;
      for (let k = 0; k < l2Entries; k++) {
        const c = i * l2Entries + k;
        if (c * cluster >= virtualSize) break;
        const hi = t.readUInt32BE(k * 8), lo = t.readUInt32BE(k * 8 + 4);
        if (hi & 0x40000000 || ((hi & 0x00ffffff) || lo & 0xfffffe00) && !(h.version >= 3 && lo & 1)) yield c;
      }
    }
  };
  // blocks() walks the L2 tables (metadata only); the parent's blocks are merged in.
  const blocks = async function* () {
    if (!parent) {
      yield* own();
      return;
    }
    const mine: number[] = [];
    for await (const c of own()) mine.push(c);
    yield* chainBlocks(mine, cluster, virtualSize, parent);
  };
  const describe = (): DiskDescription => ({
    format: 'qcow2', subformat: `v${h.version}`, virtualSize, fileSize: src.size, blockSize: cluster, allocatedBytes: allocatedBytes || undefined,
    parentChain: backingName ? [backingName, ...(parent?.describe().parentChain ?? [])] : undefined, problems: [...problems],
    extra: { clusterBits: h.clusterBits, backingFile: backingName, backingFormat, snapshots: h.nbSnapshots, refcountOrder: h.refcountOrder },
  });
  /** ce check: every host cluster used once, and each has a non-zero refcount (16-bit refcounts). */
  const check = async (): Promise<Problem[]> => {
    const out: Problem[] = [];
    const used = new Map<number, string>();
    const use = (off: number, what: string) => {
      const c = Math.floor(off / cluster);
      const prev = used.get(c);
      if (prev) out.push({ code: 'QCOW2_CLUSTER_OVERLAP', message: `${what} and ${prev} share host cluster ${c}.`, severity: 'error', offset: c * cluster });
      else used.set(c, what);
    };
    for (let i = 0; i < needL1; i++) {
      if (!l1[i]) continue;
      use(l1[i], `L2 table ${i}`);
      const t = await readExact(src, l1[i], cluster);
      for (let k = 0; k < l2Entries; k++) {
        const hi = t.readUInt32BE(k * 8), lo = t.readUInt32BE(k * 8 + 4);
        if (hi & 0x40000000) continue; // compressed clusters may share a host cluster
        const off = (hi & 0x00ffffff) * 2 ** 32 + (lo & 0xfffffe00);
        if (off) use(off, `data cluster ${i * l2Entries + k}`);
      }
    }
    if (h.refcountOrder === 4 && h.nbSnapshots === 0 && h.refcountTableClusters > 0 && h.refcountTableClusters <= 1024) {
      checkInFile(E, 'refcount table', h.refcountTableOffset, h.refcountTableClusters * cluster, src.size);
      const rt = await readExact(src, h.refcountTableOffset, h.refcountTableClusters * cluster);
      const perBlock = cluster / 2;
      const blocksCache = new Map<number, Buffer | undefined>();
      for (const c of used.keys()) {
        const bi = Math.floor(c / perBlock);
        if (!blocksCache.has(bi)) {
          const off = bi * 8 < rt.length ? Number(rt.readBigUInt64BE(bi * 8) & ~511n) : 0;
          blocksCache.set(bi, off && off + cluster <= src.size ? await readExact(src, off, cluster) : undefined);
        }
        const rb = blocksCache.get(bi);
        if (!rb || rb.readUInt16BE((c % perBlock) * 2) === 0) {
          out.push({ code: 'QCOW2_REFCOUNT_ZERO', message: `Host cluster ${c} (${used.get(c)}) is in use but its refcount is 0.`, severity: 'error', offset: c * cluster });
          if (out.length > 100) break;
        }
      }
    }
    return out;
  };
  return {
    check,
    format: 'qcow2', subformat: `v${h.version}`, virtualSize, blockSize: cluster, parent, source: src,
    blocks: () => {
      allocatedBytes = 0;
      return (async function* () {
        for await (const c of blocks()) {
          allocatedBytes += cluster;
          yield c;
        }
      })();
    },
    read, describe,
    async close() {
      await parent?.close();
      await src.close();
    },
  };
}
