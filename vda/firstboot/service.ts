/**
 * The first-boot service entry, offline in SYSTEM (windows.md §2.3): ControlSet00N\Services\CitrixCEFirstboot
 * in the current control set (and the Default set when it differs, §3.1), and its removal after the boot.
 */
import { REG } from '../../disk/hive/types.js';
import { controlSetsToEdit } from '../../disk/hive/hive.js';
import type { RegistryChange } from '../../disk/windows/plan.js';
import { planDeleteKey, planSet, type HiveLike } from '../registry/ops.js';
import { FIRSTBOOT_WINDIR, HOST_EXE, SERVICE_DISPLAY_NAME, SERVICE_NAME } from './layout.js';

export const SERVICE_VALUES = {
  Type: 0x10, // SERVICE_WIN32_OWN_PROCESS
  Start: 2, // SERVICE_AUTO_START
  ErrorControl: 1, // SERVICE_ERROR_NORMAL
  ObjectName: 'LocalSystem',
} as const;

export function serviceKeyPaths(system: HiveLike): string[] {
  return controlSetsToEdit(system).map((cs) => `${cs}\\Services\\${SERVICE_NAME}`);
}

/** The ops that create the service entry. The ImagePath is quoted: it has spaces (an unquoted path is a known privilege-escalation hole). */
export function planServiceEntry(system: HiveLike, dir = FIRSTBOOT_WINDIR): RegistryChange[] {
  const ops: RegistryChange[] = [];
  const why = 'first-boot runner service (removed again after the isolated boot)';
  for (const key of serviceKeyPaths(system)) {
    ops.push(
      ...planSet(system, 'SYSTEM', key, 'Type', REG.DWORD, SERVICE_VALUES.Type, why),
      ...planSet(system, 'SYSTEM', key, 'Start', REG.DWORD, SERVICE_VALUES.Start, why),
      ...planSet(system, 'SYSTEM', key, 'ErrorControl', REG.DWORD, SERVICE_VALUES.ErrorControl, why),
      ...planSet(system, 'SYSTEM', key, 'ImagePath', REG.EXPAND_SZ, `"${dir}\\${HOST_EXE}"`, why),
      ...planSet(system, 'SYSTEM', key, 'DisplayName', REG.SZ, SERVICE_DISPLAY_NAME, why),
      ...planSet(system, 'SYSTEM', key, 'Description', REG.SZ, 'Runs the Citrix Compositing Engine first-boot scripts once, then removes itself.', why),
      ...planSet(system, 'SYSTEM', key, 'ObjectName', REG.SZ, SERVICE_VALUES.ObjectName, why),
      ...planSet(system, 'SYSTEM', `${key}\\Parameters`, 'PWD', REG.SZ, dir, why),
    );
  }
  return ops;
}

/** The ops that remove the service entry (normally the service already deleted itself; this is the offline safety net). */
export function planServiceRemoval(system: HiveLike): RegistryChange[] {
  return serviceKeyPaths(system).flatMap((key) => planDeleteKey(system, 'SYSTEM', key, 'remove the first-boot runner service'));
}
