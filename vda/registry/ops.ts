/**
 * Planned registry edits: each op carries the value it replaces, so a plan is also the change
 * report (dry run) and apply() is a mechanical replay. Works on any HiveKey (disk/hive/types.ts).
 */
import { CeError } from '../../core/errors.js';
import { REG, type HiveKey, type RegData } from '../../disk/hive/types.js';

export type HiveName = 'SYSTEM' | 'SOFTWARE';

export type RegOp =
  | { op: 'setValue'; hive: HiveName; key: string; name: string; type: number; data: RegData; before?: RegData; why: string }
  | { op: 'deleteValue'; hive: HiveName; key: string; name: string; before: RegData; why: string }
  | { op: 'deleteKey'; hive: HiveName; key: string; why: string };

/** One line of the change report (the shape the pagefile and domain modules use). */
export interface Change {
  module: string;
  action: string;
  where: string;
  before?: unknown;
  after?: unknown;
  note?: string;
}

/** Find a key by a backslash path below `root` (case-insensitive), or undefined. */
export function findKey(root: HiveKey, path: string): HiveKey | undefined {
  let k: HiveKey | undefined = root;
  for (const part of path.split('\\').filter((p) => p.length > 0)) {
    k = k.subkey(part);
    if (!k) return undefined;
  }
  return k;
}

export function readValue(root: HiveKey, path: string, name: string): RegData | undefined {
  return findKey(root, path)?.value(name)?.data;
}

function sameData(a: RegData | undefined, b: RegData): boolean {
  if (a === undefined) return false;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/** Plan a set only when the value differs (so an image already in the requested state is a no-op). */
export function planSet(root: HiveKey, hive: HiveName, key: string, name: string, type: number, data: RegData, why: string): RegOp[] {
  const existing = findKey(root, key)?.value(name);
  if (existing && existing.type === type && sameData(existing.data, data)) return [];
  const op: RegOp = { op: 'setValue', hive, key, name, type, data, why };
  if (existing) op.before = existing.data;
  return [op];
}

export function planDeleteValue(root: HiveKey, hive: HiveName, key: string, name: string, why: string): RegOp[] {
  const existing = findKey(root, key)?.value(name);
  return existing ? [{ op: 'deleteValue', hive, key, name, before: existing.data, why }] : [];
}

export function planDeleteKey(root: HiveKey, hive: HiveName, key: string, why: string): RegOp[] {
  return findKey(root, key) ? [{ op: 'deleteKey', hive, key, why }] : [];
}

/** Replay ops on a hive root (only the ops for `hive`). */
export function applyOps(root: HiveKey, hive: HiveName, ops: RegOp[]): number {
  let n = 0;
  for (const op of ops) {
    if (op.hive !== hive) continue;
    if (op.op === 'setValue') {
      root.createKey(op.key).setValue(op.name, op.type, op.data);
    } else if (op.op === 'deleteValue') {
      findKey(root, op.key)?.deleteValue(op.name);
    } else {
      const i = op.key.lastIndexOf('\\');
      const parent = i < 0 ? root : findKey(root, op.key.slice(0, i));
      const leaf = i < 0 ? op.key : op.key.slice(i + 1);
      if (parent && !parent.deleteKey(leaf)) {
        throw new CeError('VDA_REGISTRY_WRITE', `Could not delete ${hive}\\${op.key}.`, { status: 500 });
      }
    }
    n++;
  }
  return n;
}

function show(d: RegData | undefined): unknown {
  if (d === undefined) return undefined;
  if (typeof d === 'bigint') return d.toString();
  if (Buffer.isBuffer(d)) return `hex:${d.toString('hex').slice(0, 128)}`;
  return d;
}

const TYPE_NAMES: Record<number, string> = { [REG.SZ]: 'REG_SZ', [REG.EXPAND_SZ]: 'REG_EXPAND_SZ', [REG.DWORD]: 'REG_DWORD', [REG.MULTI_SZ]: 'REG_MULTI_SZ', [REG.QWORD]: 'REG_QWORD', [REG.BINARY]: 'REG_BINARY' };

export function opsToChanges(ops: RegOp[], module = 'vda'): Change[] {
  return ops.map((op) => {
    const where = `${op.hive}\\${op.key}${op.op === 'deleteKey' ? '' : `\\${op.name || '(default)'}`}`;
    if (op.op === 'setValue') {
      const c: Change = { module, action: op.before === undefined ? 'create-value' : 'set-value', where, after: show(op.data), note: `${TYPE_NAMES[op.type] ?? `type ${op.type}`}: ${op.why}` };
      if (op.before !== undefined) c.before = show(op.before);
      return c;
    }
    if (op.op === 'deleteValue') return { module, action: 'delete-value', where, before: show(op.before), note: op.why };
    return { module, action: 'delete-key', where, note: op.why };
  });
}

/** `ControlSet%03d` from SYSTEM\Select\Current (windows.md §3.1), plus Default when it differs. */
export function controlSets(system: HiveKey): { current: string; all: string[] } {
  const sel = system.subkey('Select');
  const cur = sel?.value('Current')?.data;
  if (typeof cur !== 'number' || cur < 1 || cur > 999) {
    throw new CeError('VDA_NO_CONTROL_SET', 'SYSTEM\\Select\\Current is missing or invalid: this is not a Windows SYSTEM hive.', { status: 422 });
  }
  const name = (n: number) => `ControlSet${String(n).padStart(3, '0')}`;
  const current = name(cur);
  if (!system.subkey(current)) throw new CeError('VDA_NO_CONTROL_SET', `SYSTEM\\${current} (Select\\Current) does not exist.`, { status: 422 });
  const all = [current];
  const def = sel?.value('Default')?.data;
  if (typeof def === 'number' && def !== cur && def >= 1 && def <= 999 && system.subkey(name(def))) all.push(name(def));
  return { current, all };
}
