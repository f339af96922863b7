/**
 * Small planners on top of the shared plan model (disk/windows/plan.ts): each returns the
 * `RegistryChange`s needed to reach a value, and nothing when the hive is already there, so a
 * component already in the requested state is a no-op. applyPlan (disk/windows/apply.ts) performs them.
 */
import type { RegData } from '../../disk/hive/types.js';
import type { HiveHandle } from '../../disk/windows/hive-access.js';
import { sameValue, showValue, whereOf, type HiveName, type RegistryChange } from '../../disk/windows/plan.js';

/** What the planners need of a hive: key lookup by path (HiveHandle, or the Hive class itself). */
export type HiveLike = Pick<HiveHandle, 'key'>;

export function planSet(h: HiveLike, hive: HiveName, key: string, name: string, type: number, data: RegData, reason: string, module = 'vda'): RegistryChange[] {
  const cur = h.key(key)?.value(name);
  if (cur && sameValue(cur, type, data)) return [];
  return [
    {
      kind: 'registry',
      module,
      action: 'set-value',
      hive,
      key,
      value: name,
      where: whereOf(hive, key, name),
      before: showValue(cur),
      after: showValue({ type, data }),
      type,
      data,
      reason,
    },
  ];
}

export function planDeleteValue(h: HiveLike, hive: HiveName, key: string, name: string, reason: string, module = 'vda'): RegistryChange[] {
  const cur = h.key(key)?.value(name);
  if (!cur) return [];
  return [{ kind: 'registry', module, action: 'delete-value', hive, key, value: name, where: whereOf(hive, key, name), before: showValue(cur), after: null, reason }];
}

export function planDeleteKey(h: HiveLike, hive: HiveName, key: string, reason: string, module = 'vda'): RegistryChange[] {
  if (!h.key(key)) return [];
  return [{ kind: 'registry', module, action: 'delete-key', hive, key, where: whereOf(hive, key), before: null, after: null, reason }];
}
