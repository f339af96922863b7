/**
 * The offline registry part of a VDA prepare (windows.md §3.5, §3.6):
 *  - ListOfDDCs (space-separated FQDNs) in SOFTWARE\Citrix\VirtualDesktopAgent, and in the policy key
 *    when a policy value exists (the policy wins over the local value, see POLICY_NOTE);
 *  - the provisioning-type marker SOFTWARE\Citrix\CitrixCE\ProvisioningType (the CE's own key);
 *  - for PVS: CVhdFilter (MCS I/O) disabled (Start=4) and removed from every device class's
 *    UpperFilters/LowerFilters, in every control set Windows may boot.
 * The online `XenDesktopVdaSetup /reconfigure` script does the authoritative reconfiguration; the
 * offline values make the image consistent even if that script cannot run.
 */
import { REG } from '../../disk/hive/types.js';
import { controlSetsToEdit } from '../../disk/hive/hive.js';
import type { RegistryChange } from '../../disk/windows/plan.js';
import type { NormalizedComponents } from '../options.js';
import { planDeleteValue, planSet, type HiveLike } from './ops.js';

export const VDA_KEY = 'Citrix\\VirtualDesktopAgent';
export const VDA_POLICY_KEY = 'Policies\\Citrix\\VirtualDesktopAgent';
export const CE_MARKER_KEY = 'Citrix\\CitrixCE';

export const POLICY_NOTE =
  'Precedence: HKLM\\SOFTWARE\\Policies\\Citrix\\VirtualDesktopAgent (set by GPO or the Citrix policy engine) overrides ' +
  'HKLM\\SOFTWARE\\Citrix\\VirtualDesktopAgent; the VDA also caches the list it receives from auto-update, which overrides both ' +
  '(windows.md §3.5). The CE sets the local value, and the policy value only where one already exists; a domain GPO re-applies ' +
  'its own list at the next policy refresh.';

export interface VdaRegistryPlan {
  ops: RegistryChange[];
  notes: string[];
  warnings: string[];
}

export function planVdaRegistry(software: HiveLike, system: HiveLike, opts: NormalizedComponents): VdaRegistryPlan {
  const plan: VdaRegistryPlan = { ops: [], notes: [], warnings: [] };
  const rc = opts.reconfigure;
  if (rc?.controllers) {
    const list = rc.controllers.join(' ');
    plan.ops.push(...planSet(software, 'SOFTWARE', VDA_KEY, 'ListOfDDCs', REG.SZ, list, 'VDA registration: the controllers (space-separated FQDNs)'));
    const policy = software.key(VDA_POLICY_KEY)?.value('ListOfDDCs');
    if (policy) {
      plan.ops.push(...planSet(software, 'SOFTWARE', VDA_POLICY_KEY, 'ListOfDDCs', REG.SZ, list, 'the policy value overrides the local one, so it is updated too'));
    }
    plan.notes.push(POLICY_NOTE);
  }
  if (rc?.siteGuid) {
    // The non-policy value name for the site GUID is (unverified) in windows.md §3.5: only the online reconfigure sets it.
    plan.notes.push(`site_guid ${rc.siteGuid} is applied online by XenDesktopVdaSetup.exe /reconfigure only: its registry value name is unverified.`);
  }
  if (rc?.port !== undefined) {
    // Same for the registration port (default 80): the value name is (unverified).
    plan.notes.push(`portnumber ${rc.port} is applied online by XenDesktopVdaSetup.exe /reconfigure only: its registry value name is unverified.`);
  }
  if (opts.provisioningType) {
    plan.ops.push(...planSet(software, 'SOFTWARE', CE_MARKER_KEY, 'ProvisioningType', REG.SZ, opts.provisioningType, 'provisioning-type marker written by the CE'));
  }
  if (opts.provisioningType === 'Pvs') {
    const r = planMcsioRemoval(system);
    plan.ops.push(...r.ops);
    plan.notes.push(...r.notes);
  }
  return plan;
}

/**
 * MCS I/O must not be active on a PVS image (it freezes it, windows.md §3.6): disable CVhdFilter and
 * take it out of every class filter list. The driver file stays (the offline path does not uninstall).
 */
export function planMcsioRemoval(system: HiveLike): { ops: RegistryChange[]; notes: string[] } {
  const ops: RegistryChange[] = [];
  const notes: string[] = [];
  for (const cs of controlSetsToEdit(system)) {
    const svc = system.key(`${cs}\\Services\\CVhdFilter`);
    if (svc) ops.push(...planSet(system, 'SYSTEM', `${cs}\\Services\\${svc.name}`, 'Start', REG.DWORD, 4, 'MCS I/O filter disabled: it must not run on a PVS image'));
    const classes = system.key(`${cs}\\Control\\Class`);
    for (const cls of classes?.subkeys() ?? []) {
      for (const vn of ['UpperFilters', 'LowerFilters']) {
        const v = cls.value(vn);
        if (!v || v.type !== REG.MULTI_SZ || !Array.isArray(v.data)) continue;
        const kept = v.data.filter((f) => f.toLowerCase() !== 'cvhdfilter');
        if (kept.length === v.data.length) continue;
        const key = `${cs}\\Control\\Class\\${cls.name}`;
        const why = 'CVhdFilter removed from the class filter list (PVS)';
        ops.push(...(kept.length ? planSet(system, 'SYSTEM', key, vn, REG.MULTI_SZ, kept, why) : planDeleteValue(system, 'SYSTEM', key, vn, why)));
      }
    }
  }
  if (ops.length) notes.push('CVhdFilter.sys stays on the disk, disabled; a later MCS prepare can re-enable it with installMcsio.');
  return { ops, notes };
}
