/**
 * Offline detection of the Citrix components (windows.md §3.6): Uninstall DisplayName (both
 * registry views, as virt-v2v does for VMware Tools), services in the current control set, and
 * driver files in System32\drivers. A component counts as installed when any evidence is found;
 * a service with Start=4 (disabled) is evidence of a disabled install, not of an active one.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { currentControlSet } from '../../disk/hive/hive.js';
import { COMPONENTS, type ComponentId } from '../components.js';
import type { HiveLike } from './ops.js';

export interface ComponentState {
  installed: boolean;
  /** Active: installed and its services not disabled. */
  active: boolean;
  displayName?: string;
  version?: string;
  evidence: string[];
}

export type DetectedComponents = Record<ComponentId, ComponentState>;

const UNINSTALL_ROOTS = ['Microsoft\\Windows\\CurrentVersion\\Uninstall', 'WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall'];

export interface UninstallEntry {
  key: string;
  displayName: string;
  version?: string;
  publisher?: string;
}

export function uninstallEntries(software: HiveLike): UninstallEntry[] {
  const out: UninstallEntry[] = [];
  for (const root of UNINSTALL_ROOTS) {
    const k = software.key(root);
    if (!k) continue;
    for (const sub of k.subkeys()) {
      const dn = sub.value('DisplayName')?.data;
      if (typeof dn !== 'string' || !dn) continue;
      const e: UninstallEntry = { key: `${root}\\${sub.name}`, displayName: dn };
      const v = sub.value('DisplayVersion')?.data;
      if (typeof v === 'string') e.version = v;
      const p = sub.value('Publisher')?.data;
      if (typeof p === 'string') e.publisher = p;
      out.push(e);
    }
  }
  return out;
}

/** Case-insensitive listing of System32\drivers on the mounted volume (ntfs-3g is case-sensitive for lookups). */
async function driverFiles(volumeRoot: string | undefined): Promise<Set<string>> {
  if (!volumeRoot) return new Set();
  for (const windows of ['Windows', 'WINDOWS', 'windows']) {
    for (const sys32 of ['System32', 'system32', 'SYSTEM32']) {
      try {
        const names = await readdir(join(volumeRoot, windows, sys32, 'drivers'));
        return new Set(names.map((n) => n.toLowerCase()));
      } catch {
        /* try the next spelling */
      }
    }
  }
  return new Set();
}

export async function detectComponents(software: HiveLike, system: HiveLike, volumeRoot?: string): Promise<DetectedComponents> {
  const entries = uninstallEntries(software);
  const current = currentControlSet(system);
  const services = system.key(`${current}\\Services`);
  const drivers = await driverFiles(volumeRoot);
  const result = {} as DetectedComponents;
  for (const c of Object.values(COMPONENTS)) {
    const st: ComponentState = { installed: false, active: false, evidence: [] };
    const e = entries.find((x) => c.displayNames.some((re) => re.test(x.displayName)));
    if (e) {
      st.displayName = e.displayName;
      if (e.version) st.version = e.version;
      st.evidence.push(`SOFTWARE\\${e.key} DisplayName "${e.displayName}"`);
    }
    let activeService = false;
    for (const s of c.services) {
      const k = services?.subkey(s);
      if (!k) continue;
      const start = k.value('Start')?.data;
      st.evidence.push(`SYSTEM\\${current}\\Services\\${k.name} (Start=${String(start)})`);
      if (start !== 4) activeService = true;
    }
    for (const f of c.driverFiles) if (drivers.has(f.toLowerCase())) st.evidence.push(`Windows\\System32\\drivers\\${f}`);
    st.installed = st.evidence.length > 0;
    // With services known, "active" needs one that is not disabled; without services, any evidence counts.
    st.active = c.services.length > 0 ? activeService : st.installed;
    result[c.id] = st;
  }
  return result;
}
