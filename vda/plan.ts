/**
 * The vda part of a prepare plan, from an open Windows image and the validated options:
 * detection of the installed components, the offline registry edits, and the first-boot scripts.
 * A component already in the requested state gets no script and a note (windows.md §3.6; the
 * service: "If the necessary components are already present for the installed VDA, no changes are made").
 */
import type { WindowsImage } from '../disk/windows/image.js';
import { emptyPlan, type Plan } from '../disk/windows/plan.js';
import type { ComponentId } from './components.js';
import type { NormalizedComponents } from './options.js';
import { detectComponents, type DetectedComponents } from './registry/detect.js';
import { planVdaRegistry } from './registry/vda-settings.js';
import { misaInstallScript, misaUninstallScript, mcsioInstallScript, pvsInstallScript, vdaReconfigureScript, type FirstbootScript } from './firstboot/scripts.js';
import { requiredInstallers, type Manifest } from './staging.js';

export interface VdaPlan {
  /** Registry changes (module 'vda'), notes and warnings. */
  plan: Plan;
  detected: DetectedComponents;
  /** The installers the scripts need from the component source. */
  installers: Array<{ component: ComponentId; file: string }>;
  /** The first-boot scripts the components need (without the final shutdown). */
  scripts: FirstbootScript[];
}

export async function planVda(img: WindowsImage, opts: NormalizedComponents, manifest?: Manifest): Promise<VdaPlan> {
  const software = await img.hive('SOFTWARE');
  const system = await img.hive('SYSTEM');
  const detected = await detectComponents(software, system, img.root);
  const plan = emptyPlan();
  const reg = planVdaRegistry(software, system, opts);
  plan.changes.push(...reg.ops);
  plan.notes.push(...reg.notes);
  plan.warnings.push(...reg.warnings);

  const wanted = new Map(requiredInstallers(opts, manifest).map((x) => [x.component, x.file]));
  const installers: VdaPlan['installers'] = [];
  const scripts: FirstbootScript[] = [];
  const evidence = (id: ComponentId) => detected[id].evidence.join('; ');

  if (opts.reconfigure) {
    if (!detected.vda.installed) {
      plan.warnings.push('No Citrix VDA found in the image (Uninstall entries, BrokerAgent service): XenDesktopVdaSetup.exe /reconfigure will fail at first boot; the prepare completes without it.');
    }
    scripts.push(vdaReconfigureScript(opts.reconfigure.parameters));
  }
  if (opts.misa === 'install') {
    if (detected.misa.installed) plan.notes.push(`Machine Identity Service Agent already installed (${evidence('misa')}): nothing to do.`);
    else {
      const file = wanted.get('misa')!;
      installers.push({ component: 'misa', file });
      scripts.push(misaInstallScript(file));
    }
  }
  if (opts.misa === 'uninstall') {
    if (!detected.misa.installed) plan.notes.push('Machine Identity Service Agent is not installed: nothing to uninstall.');
    else scripts.push(misaUninstallScript());
  }
  if (opts.mcsio) {
    if (detected.mcsio.active) plan.notes.push(`MCS I/O driver already installed and enabled (${evidence('mcsio')}): nothing to do.`);
    else {
      const file = wanted.get('mcsio')!;
      installers.push({ component: 'mcsio', file });
      scripts.push(mcsioInstallScript(file));
      if (detected.mcsio.installed) plan.notes.push(`MCS I/O driver present but disabled (${evidence('mcsio')}): its installer runs again at first boot.`);
    }
  }
  if (opts.pvsVersion) {
    const v = detected.pvs.version;
    if (detected.pvs.installed && v && v.startsWith(opts.pvsVersion)) plan.notes.push(`PVS target device ${v} already installed: nothing to do.`);
    else {
      const file = wanted.get('pvs')!;
      installers.push({ component: 'pvs', file });
      scripts.push(pvsInstallScript(opts.pvsVersion, file));
      if (detected.pvs.installed) plan.notes.push(`PVS target device ${v ?? '(unknown version)'} found (${evidence('pvs')}): the ${opts.pvsVersion} installer runs at first boot.`);
    }
  }
  return { plan, detected, installers, scripts };
}
