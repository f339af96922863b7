/**
 * Whole-tree export (deterministic: depth-first, subkeys in stored order, which is sorted by
 * upper-cased name; values in stored order) and the consistency check behind `ce hive check`.
 */
import { CeError } from '../../core/errors.js';
import { hiveError } from './errors.js';
import { NIL } from './cells.js';
import type { HiveImage } from './registry.js';
import { jsonData, typeName } from './value-codec.js';
import { upcaseName, lhHash } from './upcase.js';

export interface ExportedValue {
  name: string;
  type: number;
  typeName: string;
  size: number;
  /** Decoded: string, string[], number, QWORD as a decimal string, other types as hex. */
  data: string | string[] | number;
  /** The raw bytes, hex. */
  hex: string;
}

export interface ExportedKey {
  path: string;
  name: string;
  lastWritten: string;
  className?: string;
  subkeys: number;
  values: ExportedValue[];
}

/** Every key node depth-first, parents before children; guards against loops in the key tree. */
function* keyNodes(h: HiveImage): Generator<{ off: number; path: string; children: number[] }> {
  const seen = new Set<number>();
  const stack: { off: number; path: string }[] = [{ off: h.rootOff, path: '' }];
  while (stack.length) {
    const { off, path } = stack.pop()!;
    if (seen.has(off)) throw hiveError('HIVE_CYCLE', `The key node at 0x${off.toString(16)} is reached twice (a loop in the key tree).`, { offset: off, path });
    seen.add(off);
    const children = h.childOffsets(off);
    yield { off, path, children };
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i]!;
      const name = h.keyName(c);
      stack.push({ off: c, path: path ? `${path}\\${name}` : name });
    }
  }
}

/** Walk every key depth-first; guards against loops in the key tree. */
export function walkKeys(h: HiveImage, visit: (off: number, path: string, children: number[]) => void): void {
  for (const k of keyNodes(h)) visit(k.off, k.path, k.children);
}

export function exportKeys(h: HiveImage): ExportedKey[] {
  return [...iterateKeys(h)];
}

/** The export one key at a time (bounded memory for big hives), same order as exportKeys. */
export function* iterateKeys(h: HiveImage): Generator<ExportedKey> {
  for (const k of keyNodes(h)) yield exportKey(h, k.off, k.path, k.children.length);
}

function exportKey(h: HiveImage, off: number, path: string, subkeys: number): ExportedKey {
  {
    const k: ExportedKey = {
      path,
      name: h.keyName(off),
      lastWritten: h.keyStamp(off).toISOString(),
      subkeys,
      values: h.valueOffsets(off).map((v) => {
        const info = h.vkInfo(v);
        const raw = h.vkData(v, false);
        return { name: info.name, type: info.type, typeName: typeName(info.type), size: raw.length, data: jsonData(info.type, raw), hex: raw.toString('hex') };
      }),
    };
    const cls = h.className(off);
    if (cls !== undefined) k.className = cls;
    return k;
  }
}

export interface CheckReport {
  ok: boolean;
  keys: number;
  values: number;
  /** Problems that make the hive unusable (each a HIVE_* code and message). */
  errors: { code: string; message: string; path?: string }[];
  /** Oddities that Windows and hivex tolerate. */
  warnings: { code: string; message: string; path?: string }[];
  cells: { allocated: number; free: number; freeBytes: number };
}

/** Walk everything and report problems instead of stopping at the first one where possible. */
export function checkHive(h: HiveImage): CheckReport {
  const rep: CheckReport = { ok: true, keys: 0, values: 0, errors: [], warnings: [], cells: { ...h.store.stats } };
  const err = (e: unknown, path?: string) => {
    const ce = e instanceof CeError ? e : hiveError('HIVE_INTERNAL', String(e));
    rep.errors.push({ code: ce.code, message: ce.message, path });
  };
  const skRefs = new Map<number, number>();
  if (!h.isRootFlagged()) rep.warnings.push({ code: 'HIVE_ROOT_FLAG', message: 'The root key lacks the KEY_HIVE_ENTRY flag.' });
  try {
    walkKeys(h, (off, path, children) => {
      rep.keys++;
      const declared = h.keyField(off, 'nSub');
      if (h.keyField(off, 'nVal') > 0 && h.keyField(off, 'valList') === NIL) rep.warnings.push({ code: 'HIVE_VALUE_COUNT', message: `The key declares ${h.keyField(off, 'nVal')} values but has no value list.`, path });
      if (declared !== children.length) rep.warnings.push({ code: 'HIVE_SUBKEY_COUNT', message: `The key declares ${declared} subkeys, its list has ${children.length}.`, path });
      let prev = '';
      let maxName = 0;
      for (const c of children) {
        try {
          const name = h.keyName(c);
          const up = upcaseName(name);
          if (prev && up <= prev) rep.warnings.push({ code: 'HIVE_UNSORTED', message: `Subkey "${name}" is out of order.`, path });
          prev = up;
          maxName = Math.max(maxName, name.length * 2);
          if (h.keyField(c, 'parent') !== off) rep.warnings.push({ code: 'HIVE_PARENT', message: `Subkey "${name}" names another parent.`, path });
        } catch (e) {
          err(e, path);
        }
      }
      try {
        for (const e of h.storedHashes(off)) {
          const name = h.keyName(e.off);
          if (lhHash(name) !== e.hash) rep.warnings.push({ code: 'HIVE_LH_HASH', message: `The lh hash of subkey "${name}" is 0x${e.hash.toString(16)}, expected 0x${lhHash(name).toString(16)}.`, path });
        }
      } catch (e) {
        err(e, path);
      }
      if ((h.keyField(off, 'maxName') & 0xffff) < maxName) rep.warnings.push({ code: 'HIVE_MAX_NAME', message: `Largest subkey name length ${h.keyField(off, 'maxName') & 0xffff} is below ${maxName}.`, path });
      const sk = h.keyField(off, 'sk');
      if (sk === NIL || !h.store.isAllocated(sk) || h.store.sig(sk) !== 'sk') rep.warnings.push({ code: 'HIVE_NO_SECURITY', message: 'The key has no valid security cell.', path });
      else skRefs.set(sk, (skRefs.get(sk) ?? 0) + 1);
      try {
        let maxValName = 0;
        let maxValData = 0;
        for (const v of h.valueOffsets(off)) {
          rep.values++;
          try {
            const info = h.vkInfo(v);
            const data = h.vkData(v, false);
            maxValName = Math.max(maxValName, info.name.length * 2);
            maxValData = Math.max(maxValData, info.size);
            if (data.length < info.size) rep.warnings.push({ code: 'HIVE_SHORT_DATA', message: `Value "${info.name}" declares ${info.size} bytes, its cell holds ${data.length}.`, path });
          } catch (e) {
            err(e, path);
          }
        }
        if (h.keyField(off, 'maxValName') < maxValName) rep.warnings.push({ code: 'HIVE_MAX_VALUE_NAME', message: `Largest value name length ${h.keyField(off, 'maxValName')} is below ${maxValName}.`, path });
        if (h.keyField(off, 'maxValData') < maxValData) rep.warnings.push({ code: 'HIVE_MAX_VALUE_DATA', message: `Largest value data size ${h.keyField(off, 'maxValData')} is below ${maxValData}.`, path });
      } catch (e) {
        err(e, path);
      }
    });
    // a security cell must count at least the keys that use it, or Windows may free it while in use
    for (const [sk, n] of skRefs) {
      const refs = h.store.buf.readUInt32LE(h.store.cellAtLeast(sk, 20, 'security').pos + 12);
      if (refs < n) rep.warnings.push({ code: 'HIVE_SK_REFCOUNT', message: `Security cell 0x${sk.toString(16)} counts ${refs} references, ${n} keys use it.` });
    }
  } catch (e) {
    err(e);
  }
  rep.ok = rep.errors.length === 0;
  return rep;
}
