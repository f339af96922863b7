/**
 * The full `prepare`: offline edits (disk/windows plan: pagefile, domain, Fast Startup; plus the vda
 * registry edits and the runner's service entry) → component staging → isolated first boot →
 * offline cleanup (results read, runner and service entry removed) → one change report.
 * `dryRun` mounts read-only, writes nothing, and reports the whole plan including the text of
 * every first-boot script. With `firstBoot.mode: 'stage'` the runner is left on the image for a
 * platform boot (the cloud driver); `finishFirstBoot` then collects and cleans up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ProgressMeter, type Progress } from '../core/progress.js';
import { CeError, throwIfCancelled } from '../core/errors.js';
import { applyPlan, type ApplyReport } from '../disk/windows/apply.js';
import { withWindowsImage, type WindowsImage } from '../disk/windows/image.js';
import { buildPlan, validatePrepareOptions, type PrepareOptions } from '../disk/windows/prepare.js';
import { hiveImplementation } from '../disk/windows/hive-access.js';
import { mergePlans, type Plan, type StageScriptChange } from '../disk/windows/plan.js';
import type { SkuResolution } from '../pagefile/sku.js';
import { validateComponentOptions, type ComponentOptions } from './options.js';
import { planVda } from './plan.js';
import { SmbComponentSource } from './staging-smb.js';
import { checkComponentSource, LocalComponentSource, readManifest, stageComponents, type ComponentSource, type Manifest, type StagedFile } from './staging.js';
import { shutdownScript } from './firstboot/scripts.js';
import { fromStageChange, planScripts, toStageChange, writeRunner, type PlannedScript } from './firstboot/runner.js';
import { planServiceEntry, planServiceRemoval } from './firstboot/service.js';
import { collectResults, type RunnerResults } from './firstboot/results.js';
import { removeRunnerFiles } from './firstboot/cleanup.js';
import { FIRSTBOOT_DIR } from './firstboot/layout.js';
import { QemuBootDriver } from './boot/qemu.js';
import type { BootDisk, BootDriver, BootOutcome, NetworkMode } from './boot/types.js';
import type { DetectedComponents } from './registry/detect.js';
import type { ComponentId } from './components.js';

export interface FirstBootOptions {
  /** 'boot' (default): boot once now with the local driver; 'stage': leave the runner for a platform boot. */
  mode?: 'boot' | 'stage';
  /** Default 3600 s: installers and reboots take time. */
  timeoutSeconds?: number;
  /** Default 'none': no network device at all. */
  network?: NetworkMode;
  memoryMiB?: number;
  cpus?: number;
}

export interface VdaPrepareOptions {
  components?: ComponentOptions;
  /** Where the installers come from: a directory on the CE, or an SMB share (credential in memory only). */
  componentSource?: { kind: 'local'; path: string } | { kind: 'smb'; url: string; credential?: { user: string; password: string; domain?: string } };
  firstBoot?: FirstBootOptions;
}

export interface FullPrepareOptions {
  prepare?: PrepareOptions;
  vda?: VdaPrepareOptions;
}

export interface FirstBootReport {
  state: 'none' | 'planned' | 'staged' | 'ran';
  scripts: Array<{ file: string; description: string; content?: string }>;
  boot?: Omit<BootOutcome, 'consoleTail'> & { consoleTail: string[] };
  results?: RunnerResults;
  cleanup?: { removed: string[]; report?: ApplyReport };
}

export interface FullPrepareResult {
  target: string;
  dryRun: boolean;
  sku?: SkuResolution;
  changes: Array<Record<string, unknown>>;
  warnings: string[];
  notes: string[];
  report?: ApplyReport;
  hiveLibrary: string;
  vda: {
    /** Absent when the job asks nothing of the Citrix components (SOFTWARE is then not even opened). */
    detected?: DetectedComponents;
    installers: Array<{ component: ComponentId; file: string; size?: number }>;
    staged?: StagedFile[];
    firstBoot: FirstBootReport;
  };
}

export interface PrepareContext {
  dryRun: boolean;
  signal?: AbortSignal;
  workDir?: string;
  onStep?(s: string): void;
  /** Bytes of installers staged so far (the long part before the boot). */
  onProgress?(p: Progress): void;
  log?: Logger;
  /** Default: the local QEMU/KVM driver. */
  bootDriver?: BootDriver;
  /** Default: a LocalComponentSource for options.vda.componentSource. */
  componentSource?: ComponentSource;
}

export function validateFullPrepareOptions(o: FullPrepareOptions): { prepare: PrepareOptions; components: ReturnType<typeof validateComponentOptions>; vda: VdaPrepareOptions } {
  const prepare = validatePrepareOptions(o.prepare ?? {});
  const vda = o.vda ?? {};
  const components = validateComponentOptions(vda.components ?? {});
  const fb = vda.firstBoot ?? {};
  if (fb.mode !== undefined && fb.mode !== 'boot' && fb.mode !== 'stage') throw bad('firstBoot.mode must be "boot" or "stage".');
  if (fb.network !== undefined && fb.network !== 'none' && fb.network !== 'isolated') throw bad('firstBoot.network must be "none" or "isolated".');
  if (fb.timeoutSeconds !== undefined && !(Number.isInteger(fb.timeoutSeconds) && fb.timeoutSeconds >= 60 && fb.timeoutSeconds <= 6 * 3600)) {
    throw bad('firstBoot.timeoutSeconds must be a whole number of seconds from 60 to 21600.');
  }
  if (fb.memoryMiB !== undefined && !(Number.isInteger(fb.memoryMiB) && fb.memoryMiB >= 1024 && fb.memoryMiB <= 65536)) throw bad('firstBoot.memoryMiB must be 1024..65536.');
  if (fb.cpus !== undefined && !(Number.isInteger(fb.cpus) && fb.cpus >= 1 && fb.cpus <= 16)) throw bad('firstBoot.cpus must be 1..16.');
  // domainUnjoin "firstBoot" without isolation is refused by network/domain (DOMAIN_UNJOIN_NEEDS_ISOLATION) at planning.
  const cs = vda.componentSource as Record<string, unknown> | undefined;
  if (cs !== undefined) {
    const okLocal = cs.kind === 'local' && typeof cs.path === 'string' && cs.path.length > 0;
    const okSmb = cs.kind === 'smb' && typeof cs.url === 'string' && /^smb:\/\//i.test(cs.url);
    if (!okLocal && !okSmb) throw bad('componentSource must be {"kind": "local", "path": "<directory>"} or {"kind": "smb", "url": "smb://server/share/dir"}.');
  }
  return { prepare, components, vda };
}

function bad(msg: string): CeError {
  return new CeError('VDA_OPTION_INVALID', msg, { status: 400, hint: 'Fix the option and resubmit the job.' });
}

function bootFormat(img: WindowsImage): BootDisk['format'] {
  const f = img.raw.format;
  if (f === 'raw' || f === 'block-device') return 'raw';
  if (f === 'vhd-fixed' || f === 'vpc') return 'vpc';
  if (f === 'vhdx' || f === 'vmdk' || f === 'qcow2') return f;
  return 'raw';
}

export async function prepareImage(target: string, options: FullPrepareOptions, ctx: PrepareContext): Promise<FullPrepareResult> {
  const v = validateFullPrepareOptions(options);
  let source = ctx.componentSource;
  const cs = v.vda.componentSource;
  if (!source && cs) source = cs.kind === 'local' ? new LocalComponentSource(cs.path) : new SmbComponentSource(cs.url, cs.credential ? { credential: cs.credential } : {});
  try {
    return await prepareWithSource(target, v, source, ctx);
  } finally {
    if (source && source !== ctx.componentSource) await source.close().catch(() => undefined);
  }
}

async function prepareWithSource(target: string, v: Validated, source: ComponentSource | undefined, ctx: PrepareContext): Promise<FullPrepareResult> {
  const fbOpts = v.vda.firstBoot ?? {};
  let manifest: Manifest | undefined;
  ctx.onStep?.('components');
  if (source) manifest = await readManifest(source);

  // Pass 1 plans on a read-only mount, so bad input (a missing installer, a leftover runner…) is
  // reported before anything touches the image; pass 2 re-plans on the writable mount and applies.
  ctx.onStep?.('plan');
  const first = await withWindowsImage(target, { readOnly: true, workDir: ctx.workDir, signal: ctx.signal }, (img) => planAll(img, target, v, source, manifest, ctx.dryRun));
  if (ctx.dryRun) return first.out;
  ctx.onStep?.('apply');
  let bootDisk: BootDisk | undefined;
  const result = await withWindowsImage(target, { readOnly: false, workDir: ctx.workDir, signal: ctx.signal }, async (img) => {
    const { out, merged, planned } = await planAll(img, target, v, source, manifest, false);
    if (merged.changes.length) out.report = await applyPlan(img, merged, { signal: ctx.signal });
    if (planned.length) {
      ctx.onStep?.('stage');
      if (out.vda.installers.length) {
        const meter = new ProgressMeter((p) => ctx.onProgress?.(p), out.vda.installers.reduce((n, i) => n + (i.size ?? 0), 0), 'stage');
        out.vda.staged = await stageComponents(source!, out.vda.installers, manifest!, img.root, { signal: ctx.signal, onBytes: (n) => meter.add(n) });
        meter.flush();
      }
      await writeRunner(img.root, planned);
      out.vda.firstBoot.state = 'staged';
      bootDisk = { path: target, format: bootFormat(img), partitionTable: img.table.kind === 'gpt' ? 'gpt' : 'mbr' };
    }
    return out;
  });
  if (!bootDisk || (fbOpts.mode ?? 'boot') === 'stage') return result;

  ctx.onStep?.('first-boot');
  const driver = ctx.bootDriver ?? new QemuBootDriver();
  // The job's scratch dir holds the UEFI variables and console.log; the CLI gets a temp dir, removed after.
  const ownWorkDir = ctx.workDir ? undefined : await mkdtemp(join(tmpdir(), 'ce-boot-'));
  const workDir = ctx.workDir ?? ownWorkDir!;
  let outcome: BootOutcome | undefined;
  let bootError: unknown;
  try {
    outcome = await driver.boot({
      disk: bootDisk,
      network: fbOpts.network ?? 'none',
      timeoutSeconds: fbOpts.timeoutSeconds ?? 3600,
      memoryMiB: fbOpts.memoryMiB,
      cpus: fbOpts.cpus,
      workDir,
      signal: ctx.signal,
      onConsoleLine: (line) => ctx.log?.info({ console: line }, 'first-boot console'),
    });
    result.vda.firstBoot.boot = outcome;
  } catch (e) {
    bootError = e;
  } finally {
    if (ownWorkDir) await rm(ownWorkDir, { recursive: true, force: true });
  }
  // Always clean up offline, even after a failed boot: the runner must not stay in the image.
  ctx.onStep?.('cleanup');
  const fin = await finishFirstBoot(target, { signal: ctx.signal, workDir: ctx.workDir });
  result.vda.firstBoot.results = fin.results;
  result.vda.firstBoot.cleanup = { removed: fin.removed, report: fin.report };
  result.vda.firstBoot.state = 'ran';
  if (bootError) throw bootError;
  throwIfCancelled(ctx.signal);
  for (const s of fin.results.scripts) {
    if (s.status !== 'ok' && s.status !== 'unchanged') result.warnings.push(`first-boot script ${s.script}: ${s.status}${s.message ? ` (${s.message})` : ''}`);
  }
  if (!fin.results.complete) {
    throw new CeError('VDA_FIRSTBOOT_INCOMPLETE', outcome?.timedOut ? `The first boot did not finish within ${fbOpts.timeoutSeconds ?? 3600} s; the VM was stopped.` : 'The first boot ended without the runner\'s complete sentinel.', {
      status: 500,
      hint: 'The console log and the per-script results are in the details; the runner was removed from the image.',
      details: { boot: outcome && { ...outcome, consoleTail: outcome.consoleTail.slice(-40) }, results: fin.results },
    });
  }
  return result;
}

type Validated = ReturnType<typeof validateFullPrepareOptions>;

/** Everything a prepare would do on this image: registry plan, first-boot scripts, installers (checked in the source). */
async function planAll(img: WindowsImage, target: string, v: Validated, source: ComponentSource | undefined, manifest: Manifest | undefined, dryRun: boolean): Promise<{ out: FullPrepareResult; merged: Plan; planned: PlannedScript[] }> {
  const { plan: wplan, sku } = await buildPlan(img, v.prepare);
  const c = v.components;
  const wantsVda = Boolean(c.reconfigure || c.misa || c.mcsio || c.pvsVersion || c.provisioningType);
  const vp = wantsVda ? await planVda(img, c, manifest) : { plan: { changes: [], notes: [], warnings: [] } as Plan, detected: undefined, installers: [], scripts: [] };
  // Every installer a script needs must be in the source before anything is written.
  let installers: FullPrepareResult['vda']['installers'] = vp.installers;
  if (vp.installers.length) {
    if (!source || !manifest) {
      const first = vp.installers[0]!;
      throw new CeError('COMPONENT_SOURCE_MISSING', `${first.file} is needed (${first.component}) and the job gives no componentSource.`, {
        status: 422,
        hint: 'Add componentSource {"kind":"local","path":"<dir with the installers and manifest.json>"}.',
        details: { file: first.file, component: first.component },
      });
    }
    installers = await checkComponentSource(source, vp.installers, manifest);
  }
  const foreign = wplan.changes.filter((c): c is StageScriptChange => c.kind === 'stage-script');
  const ours = vp.scripts.map((s) => toStageChange(s));
  const stage: StageScriptChange[] = [...foreign, ...ours];
  const extra: Plan = { changes: [], notes: [], warnings: [] };
  let planned: PlannedScript[] = [];
  if (stage.length) {
    const shutdown = toStageChange(shutdownScript());
    stage.push(shutdown);
    extra.changes.push(...planServiceEntry(await img.hive('SYSTEM')));
    if (await img.exists(FIRSTBOOT_DIR)) {
      throw new CeError('FIRSTBOOT_RUNNER_PRESENT', 'A first-boot runner from an earlier prepare is still on the image.', {
        status: 409,
        hint: 'Finish or clean it first: ce vda finish <target>.',
      });
    }
    planned = planScripts([...foreign.map(fromStageChange), ...[...ours, shutdown].map((c) => ({ name: c.name, priority: c.priority, description: c.reason, ps1: c.content }))]);
  }
  const merged = mergePlans({ ...wplan, changes: wplan.changes.filter((c) => c.kind === 'registry') }, vp.plan, extra);
  const out: FullPrepareResult = {
    target,
    dryRun,
    sku,
    changes: [...merged.changes, ...stage].map((c) => {
      const { data: _d, content: _c, ...rest } = c as unknown as Record<string, unknown>;
      return rest;
    }),
    warnings: merged.warnings,
    notes: merged.notes,
    hiveLibrary: await hiveImplementation(),
    vda: {
      detected: vp.detected,
      installers,
      firstBoot: {
        state: planned.length ? 'planned' : 'none',
        scripts: planned.map((p) => ({ file: p.bat.path, description: p.description, ...(dryRun ? { content: p.ps1.content } : {}) })),
      },
    },
  };
  return { out, merged, planned };
}

/** After a boot (ours or the platform's): read the results, remove the runner files and the service entry. */
export async function finishFirstBoot(target: string, ctx: { signal?: AbortSignal; workDir?: string } = {}): Promise<{ results: RunnerResults; removed: string[]; report?: ApplyReport }> {
  return withWindowsImage(target, { readOnly: false, workDir: ctx.workDir, signal: ctx.signal }, async (img) => {
    const results = await collectResults(img.root);
    const removed = await removeRunnerFiles(img.root);
    const system = await img.hive('SYSTEM');
    const changes = planServiceRemoval(system);
    const report = changes.length ? await applyPlan(img, { changes, notes: [], warnings: [] }, { signal: ctx.signal }) : undefined;
    return { results, removed, report };
  });
}
