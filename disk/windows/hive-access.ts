/**
 * The hive API the Windows modules use, per the contract in disk/hive/types.ts: `Hive.open(path, opts)`,
 * `key(path)`, `ensureKey(path)`, `save(opts)`. The real implementation is disk/hive/hive.ts (hive
 * branch); until it is present at run time, a hivex-backed fallback (hivexml to read, a hivexsh
 * script to write) stands behind the same interface. `CE_HIVE_IMPL=hivex` forces the fallback.
 */
import { CeError } from '../../core/errors.js';
import type { HiveKey, HiveOpenOptions, HiveSaveOptions } from '../hive/types.js';
import { HivexHive } from './hivex-fallback.js';

export interface HiveHandle {
  readonly path: string;
  /** The key at a backslash path from the root ('' = root), case-insensitive; undefined when absent. */
  key(path: string): HiveKey | undefined;
  /** The key at path, created with its parents when absent. */
  ensureKey(path: string): HiveKey;
  save(opts?: HiveSaveOptions): Promise<void>;
}

interface HiveModule {
  Hive: { open(path: string, opts?: HiveOpenOptions): Promise<HiveHandle> };
  currentControlSet?(h: HiveHandle): string;
  controlSetsToEdit?(h: HiveHandle): string[];
}

let hiveModule: HiveModule | null | undefined;

async function loadHiveModule(): Promise<HiveModule | null> {
  if (hiveModule !== undefined) return hiveModule;
  if (process.env.CE_HIVE_IMPL === 'hivex') return (hiveModule = null);
  // A variable specifier keeps tsc from requiring the module before the hive branch is merged.
  const spec = '../hive/hive.js';
  try {
    const m = (await import(spec)) as Partial<HiveModule>;
    hiveModule = m.Hive && typeof m.Hive.open === 'function' ? (m as HiveModule) : null;
  } catch {
    hiveModule = null;
  }
  return hiveModule;
}

/** Which implementation opens hives: 'ts' (disk/hive) or 'hivex' (fallback). */
export async function hiveImplementation(): Promise<'ts' | 'hivex'> {
  return (await loadHiveModule()) ? 'ts' : 'hivex';
}

export async function openHive(path: string, opts: HiveOpenOptions = {}): Promise<HiveHandle> {
  const m = await loadHiveModule();
  if (m) return m.Hive.open(path, opts);
  return HivexHive.open(path, opts);
}

/** `ControlSet%03d` from `Select\Current` (windows.md §3.1); CurrentControlSet does not exist offline. */
export function currentControlSet(h: HiveHandle): string {
  if (hiveModule?.currentControlSet) return hiveModule.currentControlSet(h);
  const cur = h.key('Select')?.value('Current')?.data;
  if (typeof cur !== 'number' || cur < 1 || cur > 999) {
    throw new CeError('HIVE_NO_CONTROL_SET', 'The SYSTEM hive has no valid Select\\Current value.', {
      hint: 'This is not a SYSTEM hive of a bootable Windows, or the hive is damaged.',
    });
  }
  const name = `ControlSet${String(cur).padStart(3, '0')}`;
  if (!h.key(name)) throw new CeError('HIVE_NO_CONTROL_SET', `Select\\Current points at ${name}, which does not exist.`, { hint: 'The SYSTEM hive is damaged.' });
  return name;
}

/** The current control set, plus `Select\Default` when it differs and exists (a boot may pick it). */
export function controlSetsToEdit(h: HiveHandle): string[] {
  if (hiveModule?.controlSetsToEdit) return hiveModule.controlSetsToEdit(h);
  const out = [currentControlSet(h)];
  const def = h.key('Select')?.value('Default')?.data;
  if (typeof def === 'number' && def >= 1 && def <= 999) {
    const name = `ControlSet${String(def).padStart(3, '0')}`;
    if (!out.includes(name) && h.key(name)) out.push(name);
  }
  return out;
}
