/**
 * Pagefile relocation by SKU (platforms.md §3.2, windows.md §3.3):
 * - formatted temp disk (Azure pre-v6 with a temp disk) → `PagingFiles = D:\pagefile.sys 0 0`
 *   (system managed on the temp disk) and remove a stale `\DosDevices\D:` that points at a
 *   CD-ROM, a removable device or another disk, so the temp disk can take D:;
 * - raw temp disk (Azure v6 'd', AWS instance store, GCP local SSD) or none → keep the pagefile on C:;
 * - Azure SKU without a temp disk → SKU_NO_TEMP_DISK (the service does not support those).
 * In every control set a boot may pick (current + Default) `PagingFiles` is set and `TempPageFile` cleared.
 */
import { CeError } from '../core/errors.js';
import { REG } from '../disk/hive/types.js';
import { controlSetsToEdit } from '../disk/windows/hive-access.js';
import type { WindowsImage } from '../disk/windows/image.js';
import { classify } from '../disk/windows/inspect.js';
import { emptyPlan, sameValue, showValue, whereOf, type Plan } from '../disk/windows/plan.js';
import { decodeMountedDevice, multi } from '../disk/windows/registry-facts.js';
import { resolveSku, type Platform, type SkuResolution } from './sku.js';

export interface PagefileOptions {
  platform: Platform;
  /** The VM size the image will run on (Azure ceVmSku; default Standard_D2s_v3). */
  sku?: string;
  /** Capability value from the platform API (Azure Resource SKUs `MaxResourceVolumeMB`); overrides the name rules. */
  maxResourceVolumeMB?: number;
  /** MCS I/O requested (its cache lives on D:). */
  installMcsio?: boolean;
}

const MODULE = 'pagefile';
const MM = 'Control\\Session Manager\\Memory Management';

export async function planPagefile(img: WindowsImage, opts: PagefileOptions): Promise<Plan & { sku: SkuResolution }> {
  const sku = resolveSku(opts.platform, opts.sku ?? 'Standard_D2s_v3', opts.maxResourceVolumeMB === undefined ? undefined : { maxResourceVolumeMB: opts.maxResourceVolumeMB });
  const plan = { ...emptyPlan(), sku };
  if (opts.platform === 'azure' && sku.tempDisk === 'none') {
    throw new CeError('SKU_NO_TEMP_DISK', `${sku.sku} has no temp disk (${sku.rule})`, {
      hint: 'Choose a size with a temp disk of the same family and version (a "d" size from v4 on, e.g. Standard_D2ds_v5), or the default Standard_D2s_v3.',
      status: 400,
      details: { sku: sku.sku, rule: sku.rule },
    });
  }
  const system = await img.hive('SYSTEM');
  let target: string[];
  let onTempDisk = sku.tempDisk === 'formatted';

  // D: must be free for the temp disk: a stale D: (CD-ROM, USB, another disk) goes; a D: on this disk blocks the move.
  const md = system.key('MountedDevices');
  const dVal = md?.value('\\DosDevices\\D:');
  if (onTempDisk && dVal) {
    const t = decodeMountedDevice(dVal.raw);
    const points = classify(t, img);
    if (points === 'windows-volume' || points === 'this-disk') {
      onTempDisk = false;
      plan.warnings.push('D: is assigned to a partition of the system disk, so the temp disk cannot take D:; the pagefile stays on C:. Reassign that letter in the source image first.');
    } else {
      plan.changes.push({
        kind: 'registry', module: MODULE, action: 'delete-value', hive: 'SYSTEM', key: 'MountedDevices', value: '\\DosDevices\\D:',
        where: whereOf('SYSTEM', 'MountedDevices', '\\DosDevices\\D:'), before: showValue(dVal), after: null,
        reason: `D: points at ${points === 'cdrom' ? 'a CD-ROM' : points === 'removable' ? 'a removable device' : 'another disk'} (a hypervisor leftover); the ${sku.platform} temp disk must get D:.`,
      });
    }
  }
  if (onTempDisk) {
    target = [`${sku.letter ?? 'D:'}\\pagefile.sys 0 0`];
  } else {
    target = ['C:\\pagefile.sys 0 0'];
    if (sku.tempDisk === 'raw') plan.notes.push(`${sku.sku}: ${sku.rule} The pagefile stays on the system volume.`);
    if (sku.tempDisk === 'none') plan.notes.push(`${sku.sku}: no local temp disk; the pagefile stays on the system volume.`);
  }

  for (const cs of controlSetsToEdit(system)) {
    const key = system.key(`${cs}\\${MM}`);
    const current = multi(key, 'PagingFiles') ?? [];
    const keepC = !onTempDisk && current.length > 0 && current.every((e) => /^(\?|c):\\/i.test(e.trim()));
    if (keepC) {
      plan.notes.push(`${cs}: the pagefile is already on the system volume (${current.join('; ')}); left as is.`);
    } else if (!sameValue(key?.value('PagingFiles'), REG.MULTI_SZ, target)) {
      plan.changes.push({
        kind: 'registry', module: MODULE, action: 'set-value', hive: 'SYSTEM', key: `${cs}\\${MM}`, value: 'PagingFiles',
        where: whereOf('SYSTEM', `${cs}\\${MM}`, 'PagingFiles'), before: showValue(key?.value('PagingFiles')),
        after: { type: REG.MULTI_SZ, data: target }, type: REG.MULTI_SZ, data: target,
        reason: onTempDisk ? `${sku.sku} has a formatted temp disk (${sku.rule}); a system-managed pagefile there keeps paging off the OS disk.` : 'No usable temp disk: a system-managed pagefile on C:.',
      });
    } else {
      plan.notes.push(`${cs}: PagingFiles already ${JSON.stringify(target)}.`);
    }
    const temp = key?.value('TempPageFile');
    if (temp) {
      plan.changes.push({
        kind: 'registry', module: MODULE, action: 'delete-value', hive: 'SYSTEM', key: `${cs}\\${MM}`, value: 'TempPageFile',
        where: whereOf('SYSTEM', `${cs}\\${MM}`, 'TempPageFile'), before: showValue(temp), after: null,
        reason: 'Windows set TempPageFile after a failed pagefile; clear it so the configured one is used.',
      });
    }
  }

  if (opts.installMcsio && sku.tempDisk !== 'formatted') {
    plan.warnings.push(
      sku.tempDisk === 'raw'
        ? `MCS I/O keeps its cache in D:\\mcsdif.vhdx, but the temp disk of ${sku.sku} is raw (unformatted at every start): it needs a boot-time format task before MCS I/O can use it.`
        : `MCS I/O keeps its cache in D:\\mcsdif.vhdx, but ${sku.sku} has no temp disk.`,
    );
  }
  return plan;
}
