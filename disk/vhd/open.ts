/**
 * Opening a VHD: find a valid footer (end of file, else the copy at offset 0 when the end was
 * lost by an interrupted append, XO #10053), read the dynamic header and the BAT, check every
 * bound before trusting it, and open the parent of a differencing disk.
 */
import type { ByteSource, OpenOptions, Problem } from '../types.js';
import { CeError } from '../../core/errors.js';
import { isPowerOfTwo } from '../fields.js';
import { readExact } from '../io/file.js';
import { FOOTER_SIZE, VHD_MAX_SIZE, chsBytes, hasFooterCookie, parseFooter, sizeSource, vhdChecksum, virtualSizeOf, type VhdFooter } from './footer.js';
import { HEADER_SIZE, bitmapSize, parseDynamicHeader } from './header.js';
import { BAT_UNUSED, VhdDisk } from './disk.js';
import { openVhdParent } from './parent.js';

/** Most BAT entries we accept (2^24 × 2 MiB = 32 TiB): beyond that the header is nonsense. */
const MAX_BAT_ENTRIES = 1 << 24;
const MIN_BLOCK = 4096;
const MAX_BLOCK = 256 << 20;

function err(code: string, message: string, details?: unknown, hint = 'The VHD is damaged or truncated; copy it again from the original.'): CeError {
  return new CeError(code, message, { hint, details });
}

async function findFooter(src: ByteSource, problems: Problem[]): Promise<{ footer: VhdFooter; dataEnd: number }> {
  if (src.size < FOOTER_SIZE) throw err('VHD_TRUNCATED', `${src.name}: ${src.size} bytes is too small for a VHD.`);
  const tailBuf = await readExact(src, src.size - FOOTER_SIZE, FOOTER_SIZE);
  const headBuf = await readExact(src, 0, FOOTER_SIZE);
  // Checksums first: a damaged footer is reported as such, not as whatever its garbage fields say.
  const sumOk = (b: Buffer) => vhdChecksum(b, 64) === b.readUInt32BE(64);
  const tailHas = hasFooterCookie(tailBuf);
  const headHas = hasFooterCookie(headBuf) && src.size > FOOTER_SIZE;
  const tail = tailHas && sumOk(tailBuf) ? parseFooter(tailBuf, src.name) : undefined;
  const head = headHas && sumOk(headBuf) ? parseFooter(headBuf, src.name) : undefined;
  if (tail) {
    if (headHas && !headBuf.equals(tailBuf)) {
      problems.push({ code: 'VHD_FOOTER_COPY_MISMATCH', severity: 'warning', message: 'The footer copy at offset 0 differs from the footer at the end.', offset: 0 });
    }
    if (headHas && !head) problems.push({ code: 'VHD_FOOTER_COPY_CHECKSUM', severity: 'warning', message: 'The footer copy at offset 0 has a bad checksum.', offset: 0 });
    return { footer: tail, dataEnd: src.size - FOOTER_SIZE };
  }
  if (head && head.type !== 'fixed') {
    problems.push({
      code: tailHas ? 'VHD_FOOTER_CHECKSUM' : 'VHD_FOOTER_END_MISSING',
      severity: 'error',
      message: tailHas ? 'The footer at the end has a bad checksum; using the copy at offset 0.' : 'No footer at the end (interrupted append?); using the copy at offset 0.',
      offset: src.size - FOOTER_SIZE,
    });
    return { footer: head, dataEnd: src.size };
  }
  if (tailHas) {
    throw err('VHD_FOOTER_CHECKSUM', `${src.name}: the VHD footer checksum is wrong (stored ${tailBuf.readUInt32BE(64).toString(16)}).`, { offset: src.size - FOOTER_SIZE });
  }
  if (headHas) throw err('VHD_FOOTER_CHECKSUM', `${src.name}: the footer copy at offset 0 has a bad checksum and there is no footer at the end.`);
  throw err('VHD_FOOTER_MISSING', `${src.name}: no VHD footer at the end of the file.`, undefined, 'The file is not a VHD, or it is truncated.');
}

export async function openVhd(src: ByteSource, opts: OpenOptions): Promise<VhdDisk> {
  const problems: Problem[] = [];
  const { footer, dataEnd } = await findFooter(src, problems);
  if (footer.version >>> 16 !== 1) {
    throw err('VHD_VERSION', `${src.name}: unsupported VHD version ${(footer.version >>> 16)}.${footer.version & 0xffff}.`, { version: footer.version }, 'Only VHD format version 1.x exists.');
  }
  const virtualSize = virtualSizeOf(footer);
  if (sizeSource(footer) === 'chs' && chsBytes(footer.geometry) !== footer.currentSize) {
    problems.push({
      code: 'VHD_SIZE_CHS',
      severity: 'warning',
      message: `Creator "${footer.creatorApp}" sizes by CHS geometry: ${chsBytes(footer.geometry)} bytes, while current_size says ${footer.currentSize}.`,
    });
  }

  if (footer.type === 'fixed') {
    if (virtualSize > dataEnd) {
      throw err('VHD_TRUNCATED', `${src.name}: fixed VHD of ${virtualSize} bytes but only ${dataEnd} bytes of data before the footer.`, { virtualSize, dataEnd });
    }
    return new VhdDisk({ source: src, footer, virtualSize, problems });
  }

  // Dynamic and differencing disks.
  const hOff = footer.dataOffset;
  if (hOff === null || hOff + HEADER_SIZE > dataEnd) {
    throw err('VHD_HEADER_RANGE', `${src.name}: the dynamic header offset ${hOff ?? 'all-ones'} is outside the file.`, { headerOffset: hOff, size: src.size });
  }
  const header = parseDynamicHeader(await readExact(src, hOff, HEADER_SIZE), src.name);
  if (!header.checksumValid) throw err('VHD_HEADER_CHECKSUM', `${src.name}: the dynamic header checksum is wrong.`, { offset: hOff });
  if (!header.dataOffsetAllOnes) {
    problems.push({ code: 'VHD_HEADER_DATA_OFFSET', severity: 'warning', message: 'The header data_offset is not all ones (MS tools expect 0xFFFFFFFFFFFFFFFF).', offset: hOff + 8 });
  }
  if (!isPowerOfTwo(header.blockSize) || header.blockSize < MIN_BLOCK || header.blockSize > MAX_BLOCK) {
    throw err('VHD_BLOCK_SIZE', `${src.name}: block size ${header.blockSize} is not a power of two between 4 KiB and 256 MiB.`, { blockSize: header.blockSize });
  }
  const needed = Math.ceil(virtualSize / header.blockSize);
  if (header.maxTableEntries < needed || header.maxTableEntries > MAX_BAT_ENTRIES) {
    throw err('VHD_BAT_RANGE', `${src.name}: max_table_entries ${header.maxTableEntries} does not fit the virtual size (${needed} blocks needed).`, {
      maxTableEntries: header.maxTableEntries,
      needed,
    });
  }
  if (header.tableOffset + needed * 4 > dataEnd) {
    throw err('VHD_BAT_RANGE', `${src.name}: the BAT at ${header.tableOffset} (${needed} entries) runs past the end of the file.`, { tableOffset: header.tableOffset, size: src.size });
  }
  const batBuf = await readExact(src, header.tableOffset, needed * 4);
  const bat = new Uint32Array(needed);
  const blockBytes = bitmapSize(header.blockSize) + header.blockSize;
  for (let i = 0; i < needed; i++) {
    const e = batBuf.readUInt32BE(i * 4);
    bat[i] = e;
    // A block must lie inside the file, before the footer: refuse rather than read zeros silently.
    if (e !== BAT_UNUSED && e * 512 + blockBytes > dataEnd) {
      throw err('VHD_BAT_ENTRY_PAST_EOF', `${src.name}: block ${i} at sector ${e} ends past the end of the data (${dataEnd}).`, { block: i, sector: e, dataEnd });
    }
  }
  if (footer.type === 'dynamic' && virtualSize > VHD_MAX_SIZE) {
    problems.push({ code: 'VHD_TOO_LARGE', severity: 'warning', message: `Virtual size above the VHD maximum of 2040 GiB.` });
  }
  const parent = footer.type === 'differencing' ? await openVhdParent(src, header, opts, problems) : undefined;
  return new VhdDisk({ source: src, footer, virtualSize, header, bat, parent, problems });
}
