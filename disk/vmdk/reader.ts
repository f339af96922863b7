/**
 * Open a VMDK as a Disk: a hosted sparse file (monolithicSparse, streamOptimized v3 with the GD at
 * the end (markers, footer, EOS) or at the start), or a text descriptor with FLAT/ZERO extents
 * (monolithicFlat, vmfs, twoGbMaxExtentFlat) whose extent files open through `openRelated`.
 */
import type { ByteSource, Disk, DiskDescription, OpenOptions, Problem } from '../types.js';
import { readExact } from '../io/file.js';
import { AlignedPool } from '../io/aligned.js';
import { GrainInflater } from './grain-inflater.js';
import { checkInFile, formatError } from '../format-kit/fields.js';
import { preadExact, readExtents, type Extent } from '../format-kit/extent-read.js';
import {
  FLAG_COMPRESSED, FLAG_MARKERS, GTE_ZERO, MARKER, SECTOR, isDescriptorText, isSparseMagic, parseDescriptor, parseSparseHeader,
  type Descriptor, type SparseHeader,
} from './layout.js';

const E = 'VMDK';
const MAX_DESCRIPTOR = 1024 * 1024;

export async function openVmdk(src: ByteSource, opts: OpenOptions): Promise<Disk> {
  const head = await readExact(src, 0, Math.min(src.size, SECTOR));
  if (isSparseMagic(head)) return openSparse(src, head);
  if (isDescriptorText(head)) return openDescriptor(src, opts);
  throw formatError(E, 'BAD_MAGIC', `${src.name} is neither a sparse VMDK nor a VMDK descriptor.`);
}

async function openSparse(src: ByteSource, head: Buffer): Promise<Disk & { check(): Problem[] }> {
  if (src.size < SECTOR) throw formatError(E, 'TRUNCATED', `${src.name} is too short for a VMDK header.`);
  let h = parseSparseHeader(head);
  const problems: Problem[] = [];
  let footer = false;
  if (h.gdOffset < 0) {
    // §3.3 GD_AT_END: the real header is the footer at EOF-1024 (then the EOS sector).
    if (src.size < 3 * SECTOR) throw formatError(E, 'FOOTER_MISSING', `${src.name} says the GD is at the end but is too short for a footer.`);
    const tail = await readExact(src, src.size - 3 * SECTOR, 3 * SECTOR);
    if (!isSparseMagic(tail.subarray(SECTOR))) throw formatError(E, 'FOOTER_MISSING', `${src.name} has no VMDK footer at EOF-1024 (incomplete stream?).`, 'The stream was cut short; copy the file again.');
    if (tail.readUInt32LE(12) !== MARKER.FOOTER && h.flags & FLAG_MARKERS) {
      problems.push({ code: 'VMDK_FOOTER_MARKER', message: 'The footer is not preceded by a footer marker.', severity: 'warning' });
    }
    if (!tail.subarray(2 * SECTOR).equals(Buffer.alloc(SECTOR))) problems.push({ code: 'VMDK_NO_EOS', message: 'The stream does not end with an end-of-stream marker (ESXi needs one).', severity: 'warning' });
    h = parseSparseHeader(tail.subarray(SECTOR, 2 * SECTOR));
    if (h.gdOffset < 0) throw formatError(E, 'FOOTER_INVALID', 'The VMDK footer also says the GD is at the end.');
    footer = true;
  }
  const grainBytes = h.grainSize * SECTOR;
  const gtCover = h.numGTEsPerGT * h.grainSize; // sectors per GT
  const gdEntries = Math.ceil(h.capacity / gtCover);
  if (gdEntries * 4 > 64 * 1024 * 1024) throw formatError(E, 'HEADER_INVALID', `VMDK grain directory of ${gdEntries} entries is absurd.`);
  const gdBytes = gdEntries * 4;
  checkInFile(E, 'grain directory', h.gdOffset * SECTOR, gdBytes, src.size);
  const gd = gdEntries ? await readExact(src, h.gdOffset * SECTOR, gdBytes) : Buffer.alloc(0);
  const gtBytes = h.numGTEsPerGT * 4;
  const tables: (Uint32Array | undefined)[] = new Array(gdEntries);
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < gdEntries; i++) {
    const gt = gd.readUInt32LE(i * 4);
    if (!gt) continue;
    checkInFile(E, `grain table ${i}`, gt * SECTOR, gtBytes, src.size);
    jobs.push(readExact(src, gt * SECTOR, gtBytes).then((b) => {
      tables[i] = new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + gtBytes));
    }));
    if (jobs.length >= 64) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  const compressed = (h.flags & FLAG_COMPRESSED) !== 0;
  const markers = (h.flags & FLAG_MARKERS) !== 0;
  const virtualSize = h.capacity * SECTOR;
  const totalGrains = Math.ceil(h.capacity / h.grainSize);
  const allocated: number[] = [];
  let allocatedBytes = 0;
  // Walk only the grain tables present (a damaged capacity must not make this loop endless).
  for (let ti = 0; ti < gdEntries; ti++) {
    const t = tables[ti];
    if (!t) continue;
    for (let k = 0; k < h.numGTEsPerGT; k++) {
    const g = ti * h.numGTEsPerGT + k;
    if (g >= totalGrains) break;
    const v = t[k];
    if (v > GTE_ZERO) {
      if (v * SECTOR >= src.size) throw formatError(E, 'PAST_EOF', `Grain ${g} points at sector ${v}, past the end of ${src.name}.`, undefined, { grain: g, sector: v });
      if (!compressed && v * SECTOR + Math.min(grainBytes, virtualSize - g * grainBytes) > src.size) {
        throw formatError(E, 'PAST_EOF', `Grain ${g} (sector ${v}) extends past the end of ${src.name}.`);
      }
      allocated.push(g);
      allocatedBytes += grainBytes;
    }
    }
  }
  const subformat = compressed ? 'streamOptimized' : 'monolithicSparse';
  let descriptor: Descriptor | undefined;
  if (h.descriptorOffset && h.descriptorSize && h.descriptorSize * SECTOR <= MAX_DESCRIPTOR && (h.descriptorOffset + h.descriptorSize) * SECTOR <= src.size) {
    descriptor = parseDescriptor((await readExact(src, h.descriptorOffset * SECTOR, h.descriptorSize * SECTOR)).toString('utf8'));
    if (descriptor.parentCID && descriptor.parentCID.toLowerCase() !== 'ffffffff') {
      throw formatError(E, 'PARENT_UNSUPPORTED', `${src.name} is a VMDK delta (parentCID ${descriptor.parentCID}); VMDK chains are not supported.`, 'Consolidate the snapshot chain in VMware first.');
    }
  }

  // Compressed grains lie one after the other: a grain's record ends where the next one (by file
  // position) begins. read() fetches runs of adjacent records with one pread instead of two per grain.
  const maxRecord = 12 + grainBytes * 2 + 1024;
  const recordEnd = new Map<number, number>();
  if (compressed) {
    const sectors = allocated.map((g) => tables[Math.floor(g / h.numGTEsPerGT)]![g % h.numGTEsPerGT]).sort((a, b) => a - b);
    for (let i = 0; i < sectors.length; i++) {
      const start = sectors[i] * SECTOR;
      const next = i + 1 < sectors.length ? sectors[i + 1] * SECTOR : src.size;
      recordEnd.set(sectors[i], Math.min(next, start + maxRecord, src.size));
    }
  }
  // Compressed records are read in runs of contiguous records into pooled page-aligned buffers
  // (disk/io/aligned.ts): the kernel copies into them ~3x faster than into malloc'd memory.
  const RUN_MAX = Math.max(4 * 1024 * 1024, maxRecord);
  const runPool = new AlignedPool(RUN_MAX, 2, 32);
  const prefetch = async (offset: number, length: number): Promise<{ pre: Map<number, Buffer>; bufs: Buffer[] }> => {
    const pre = new Map<number, Buffer>();
    const bufs: Buffer[] = [];
    const end = Math.min(offset + length, virtualSize);
    let run: { start: number; end: number; sectors: number[] } | undefined;
    const runs: NonNullable<typeof run>[] = [];
    for (let g = Math.floor(offset / grainBytes); g * grainBytes < end; g++) {
      const t = tables[Math.floor(g / h.numGTEsPerGT)];
      const v = t ? t[g % h.numGTEsPerGT] : 0;
      if (v <= GTE_ZERO) continue;
      const s = v * SECTOR, e = recordEnd.get(v);
      if (e === undefined || e <= s) continue;
      if (run && run.end === s && e - run.start <= RUN_MAX) {
        run.end = e;
        run.sectors.push(v);
      } else runs.push((run = { start: s, end: e, sectors: [v] }));
    }
    try {
      await Promise.all(runs.map(async (r) => {
        const into = runPool.get();
        bufs.push(into);
        const buf = await readExact(src, r.start, r.end - r.start, into);
        for (const v of r.sectors) pre.set(v, buf.subarray(v * SECTOR - r.start, recordEnd.get(v)! - r.start));
      }));
    } catch (e) {
      for (const b of bufs) runPool.put(b);
      throw e;
    }
    return { pre, bufs };
  };

  /** The zlib stream of grain g (from its prefetched record when there is one). */
  const grainData = async (g: number, sector: number, record?: Buffer): Promise<Buffer> => {
    // Markers: lba u64 + size u32, then zlib data; without markers the zlib stream starts at the sector.
    let data: Buffer;
    if (record && (!markers || (record.length >= 12 && 12 + record.readUInt32LE(8) <= record.length))) {
      data = markers ? record.subarray(12, 12 + record.readUInt32LE(8)) : record;
    } else if (markers) {
      const m = await readExact(src, sector * SECTOR, Math.min(12, src.size - sector * SECTOR));
      if (m.length < 12) throw formatError(E, 'PAST_EOF', `Grain ${g} marker lies past EOF.`);
      const size = m.readUInt32LE(8);
      if (size > grainBytes * 2 + 1024) throw formatError(E, 'GRAIN_INVALID', `Grain ${g} claims ${size} compressed bytes.`);
      checkInFile(E, `grain ${g}`, sector * SECTOR + 12, size, src.size);
      data = await readExact(src, sector * SECTOR + 12, size);
    } else {
      const n = Math.min(grainBytes * 2 + 1024, src.size - sector * SECTOR);
      data = await readExact(src, sector * SECTOR, n);
    }
    return data;
  };

  // One zlib context for the whole disk, inflating into the caller's buffer (grain-inflater.ts).
  // Synchronous (a 64 KiB grain at a time): ~4x less CPU than async zlib per grain.
  const inflater = compressed ? new GrainInflater(grainBytes) : undefined;
  const scratch = compressed ? Buffer.alloc(grainBytes) : Buffer.alloc(0);
  const inflateGrain = (g: number, data: Buffer, out: Buffer): number => {
    try {
      return inflater!.inflateInto(data, out);
    } catch (e) {
      throw formatError(E, 'GRAIN_INVALID', `Grain ${g} does not inflate: ${(e as Error).message}.`);
    }
  };

  const lookup = (pos: number, max: number, pre?: Map<number, Buffer>): Extent => {
    const g = Math.floor(pos / grainBytes);
    const inG = pos - g * grainBytes;
    const len = Math.min(max, grainBytes - inG);
    const t = tables[Math.floor(g / h.numGTEsPerGT)];
    const v = t ? t[g % h.numGTEsPerGT] : 0;
    if (v <= GTE_ZERO) return { kind: 'zero', length: len };
    if (!compressed) return { kind: 'data', length: len, fileOffset: v * SECTOR + inG };
    return {
      kind: 'custom', length: len,
      fill: async (dst) => {
        const data = await grainData(g, v, pre?.get(v));
        // A whole grain inflates in place; a part of one goes through the scratch grain (the
        // inflate and the copy run without an await between them, so the scratch is not shared).
        if (inG === 0 && dst.length === grainBytes) {
          const n = inflateGrain(g, data, dst);
          if (n < dst.length) dst.fill(0, n);
          return;
        }
        const got = inflateGrain(g, data, scratch);
        const n = Math.max(0, Math.min(dst.length, got - inG));
        if (n > 0) scratch.copy(dst, 0, inG, inG + n);
        if (n < dst.length) dst.fill(0, n);
      },
    };
  };

  const describe = (): DiskDescription => ({
    format: 'vmdk', subformat, virtualSize, fileSize: src.size, blockSize: grainBytes, allocatedBytes, problems: [...problems],
    extra: { version: h.version, flags: h.flags, gdAtEnd: footer, createType: descriptor?.createType, cid: descriptor?.cid, adapterType: descriptor?.ddb['ddb.adapterType'] },
  });
  // ce check: two grains must never share a file sector (a damaged or hand-edited table).
  const check = (): Problem[] => {
    const seen = new Map<number, number>();
    const out: Problem[] = [];
    for (const g of allocated) {
      const v = tables[Math.floor(g / h.numGTEsPerGT)]![g % h.numGTEsPerGT];
      const other = seen.get(v);
      if (other !== undefined) out.push({ code: 'VMDK_GRAIN_OVERLAP', message: `Grains ${other} and ${g} both point at sector ${v}.`, severity: 'error', offset: v * SECTOR });
      else seen.set(v, g);
    }
    return out;
  };
  return {
    format: 'vmdk', subformat, virtualSize, blockSize: grainBytes, source: src, check,
    async *blocks() { yield* allocated; },
    async read(offset, length, buf) {
      if (!compressed) return readExtents(src, undefined, virtualSize, offset, length, buf, (pos, max) => lookup(pos, max));
      const { pre, bufs } = await prefetch(offset, length);
      try {
        return await readExtents(src, undefined, virtualSize, offset, length, buf, (pos, max) => lookup(pos, max, pre));
      } finally {
        // Every grain was inflated out of the run buffers by now (readExtents awaited all fills).
        for (const b of bufs) runPool.put(b);
      }
    },
    describe,
    close: () => src.close(),
  };
}

async function openDescriptor(src: ByteSource, opts: OpenOptions): Promise<Disk> {
  if (src.size > MAX_DESCRIPTOR) throw formatError(E, 'DESCRIPTOR_INVALID', `${src.name} is too large for a VMDK descriptor.`);
  const d = parseDescriptor((await readExact(src, 0, src.size)).toString('utf8'));
  if (d.parentCID && d.parentCID.toLowerCase() !== 'ffffffff') {
    throw formatError(E, 'PARENT_UNSUPPORTED', `${src.name} is a VMDK delta (parentCID ${d.parentCID}); VMDK chains are not supported.`, 'Consolidate the snapshot chain in VMware first.');
  }
  if (!d.extents.length) throw formatError(E, 'DESCRIPTOR_INVALID', `${src.name} has no extent lines.`);
  const parts: { start: number; length: number; src?: ByteSource; offset: number }[] = [];
  let pos = 0;
  let fileSize = src.size;
  try {
    for (const e of d.extents) {
      const length = e.sectors * SECTOR;
      if (e.type === 'ZERO') parts.push({ start: pos, length, offset: 0 });
      else if (e.type === 'FLAT' || e.type === 'VMFS') {
        if (!e.file) throw formatError(E, 'DESCRIPTOR_INVALID', 'A FLAT extent has no file name.');
        const f = await opts.openRelated(e.file).catch((err) => {
          throw formatError(E, 'EXTENT_NOT_FOUND', `The extent file "${e.file}" of ${src.name} was not found.`, 'Keep the -flat.vmdk file next to its descriptor.', { file: e.file, cause: String(err?.message ?? err) });
        });
        parts.push({ start: pos, length, src: f, offset: e.offset * SECTOR });
        if (f.size < e.offset * SECTOR + length) {
          throw formatError(E, 'PAST_EOF', `The extent ${e.file} has ${f.size} bytes, the descriptor needs ${e.offset * SECTOR + length}.`);
        }
        fileSize += f.size;
      } else throw formatError(E, 'EXTENT_UNSUPPORTED', `VMDK extent type ${e.type} in a descriptor file is not supported (createType ${d.createType}).`);
      pos += length;
    }
  } catch (e) {
    for (const p of parts) await p.src?.close();
    throw e;
  }
  const virtualSize = pos;
  const lookup = (at: number, max: number): Extent => {
    let lo = 0, hi = parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (parts[mid].start <= at) lo = mid;
      else hi = mid - 1;
    }
    const p = parts[lo];
    const len = Math.min(max, p.start + p.length - at);
    if (!p.src) return { kind: 'zero', length: len };
    const s = p.src, off = p.offset + (at - p.start);
    return { kind: 'custom', length: len, fill: (dst) => preadExact(s, off, dst) };
  };
  const blockSize = 1024 * 1024;
  return {
    format: 'vmdk', subformat: d.createType || 'monolithicFlat', virtualSize, blockSize, source: src,
    async *blocks() {
      for (const p of parts) {
        if (!p.src) continue;
        for (let b = Math.floor(p.start / blockSize); b * blockSize < p.start + p.length; b++) yield b;
      }
    },
    read: (offset, length, buf) => readExtents(src, undefined, virtualSize, offset, length, buf, lookup),
    describe: () => ({
      format: 'vmdk', subformat: d.createType || 'monolithicFlat', virtualSize, fileSize, blockSize, problems: [],
      extra: { createType: d.createType, cid: d.cid, extents: d.extents.map((e) => ({ type: e.type, file: e.file, sectors: e.sectors })), adapterType: d.ddb['ddb.adapterType'] },
    }),
    async close() {
      for (const p of parts) await p.src?.close();
      await src.close();
    },
  };
}
