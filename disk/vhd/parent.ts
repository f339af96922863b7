/**
 * Parent resolution for differencing VHDs: the parent locators W2ru (relative) and W2ku
 * (absolute), both UTF-16LE; Wi2r/Wi2k (deprecated) as fallbacks; then parent_name (UTF-16BE)
 * beside the child. The parent is accepted only if its footer UUID equals the child's
 * parent_uuid; a different parent_timestamp is reported as a warning (copies change it).
 */
import { basename } from 'node:path';
import type { ByteSource, Disk, OpenOptions, Problem } from '../types.js';
import { CeError, isCeError } from '../../core/errors.js';
import { readExact } from '../io/file.js';
import type { DynamicHeader } from './header.js';

const LOCATOR_ORDER = ['W2ru', 'W2ku', 'Wi2r', 'Wi2k'];
const MAX_LOCATOR_BYTES = 64 * 1024;

async function locatorPaths(src: ByteSource, header: DynamicHeader): Promise<string[]> {
  const out: string[] = [];
  const sorted = [...header.locators].sort((a, b) => LOCATOR_ORDER.indexOf(a.platformCode) - LOCATOR_ORDER.indexOf(b.platformCode));
  for (const l of sorted) {
    if (!LOCATOR_ORDER.includes(l.platformCode)) continue;
    if (l.dataLength === 0 || l.dataLength > MAX_LOCATOR_BYTES || l.dataOffset + l.dataLength > src.size) continue;
    const raw = await readExact(src, l.dataOffset, l.dataLength);
    const text = (l.platformCode.startsWith('W2') ? raw.toString('utf16le') : raw.toString('latin1')).replace(/\0+$/, '');
    if (text) out.push(text);
  }
  if (header.parentName) out.push(header.parentName);
  return out;
}

/** Windows paths → candidates we can open here: as written (slashes turned), then the base name beside the child. */
function candidates(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const unix = p.replace(/\\/g, '/');
    const isWinAbs = /^[A-Za-z]:\//.test(unix) || unix.startsWith('//');
    if (!isWinAbs) out.push(unix);
    out.push(basename(unix));
  }
  return [...new Set(out.filter(Boolean))];
}

export async function openVhdParent(src: ByteSource, header: DynamicHeader, opts: OpenOptions, problems: Problem[]): Promise<Disk> {
  const tried = candidates(await locatorPaths(src, header));
  for (const cand of tried) {
    let psrc: ByteSource;
    try {
      psrc = await opts.openRelated(cand);
    } catch (e) {
      if (isCeError(e) && (e.code === 'SOURCE_NOT_FOUND' || e.code === 'FILE_NOT_FOUND' || e.code === 'SOURCE_IS_DIRECTORY')) continue;
      throw e;
    }
    const parent = await opts.openParent(psrc, opts.depth + 1);
    const pf = (parent as { footer?: { uuid: Buffer; timestamp: number } }).footer;
    if (parent.format !== 'vhd' || !pf) {
      await parent.close();
      throw new CeError('VHD_PARENT_MISMATCH', `${src.name}: the parent ${cand} is ${parent.format}, not a VHD.`, { hint: 'A differencing VHD needs a VHD parent.' });
    }
    if (!pf.uuid.equals(header.parentUuid)) {
      await parent.close();
      throw new CeError('VHD_PARENT_MISMATCH', `${src.name}: the parent ${cand} has UUID ${pf.uuid.toString('hex')}, the child expects ${header.parentUuid.toString('hex')}.`, {
        hint: 'The parent was replaced or the wrong file sits at that path. Put the original parent beside the child.',
        details: { parent: cand },
      });
    }
    if (pf.timestamp !== header.parentTimestamp) {
      problems.push({ code: 'VHD_PARENT_TIMESTAMP', severity: 'warning', message: `The parent's timestamp differs from the one recorded in the child (the parent may have changed).` });
    }
    return parent;
  }
  throw new CeError('VHD_PARENT_NOT_FOUND', `${src.name}: the parent disk was not found (tried ${tried.join(', ') || 'no locator'}).`, {
    hint: 'Put the parent VHD beside the differencing disk under the name it records.',
    status: 404,
    details: { tried },
  });
}
