/**
 * `prepare`: the offline part of preparing a Windows image for its target platform. Opens the
 * target, asks each edit module for its plan (pagefile by SKU, domain unjoin, Fast Startup off),
 * and either returns the plan (dry run: the image is mounted read-only and stays byte-identical)
 * or applies it and returns the change report. Hibernated/unclean volumes and dirty hives are refused.
 */
import { CeError } from '../../core/errors.js';
import { REG } from '../hive/types.js';
import { planPagefile } from '../../pagefile/plan.js';
import type { SkuResolution } from '../../pagefile/sku.js';
import { planUnjoin } from '../../network/domain/unjoin.js';
import { applyPlan, type ApplyReport } from './apply.js';
import { controlSetsToEdit, hiveImplementation } from './hive-access.js';
import { withWindowsImage, type WindowsImage } from './image.js';
import { detectFormat } from '../mount/expose.js';
import { emptyPlan, mergePlans, showValue, whereOf, type Change, type Plan } from './plan.js';
import { num } from './registry-facts.js';

export interface PrepareOptions {
  platform?: 'azure' | 'aws' | 'gcp';
  /** The VM size the image is prepared for (IPS `ceVmSku`, default Standard_D2s_v3). */
  ceVmSku?: string;
  /** Capability override for the temp disk (Azure Resource SKUs `MaxResourceVolumeMB`). */
  maxResourceVolumeMB?: number;
  /** Relocate the pagefile by SKU (default true). */
  pagefile?: boolean;
  /** none (default), offline (edit SECURITY), firstBoot (online Remove-Computer at first boot). */
  domainUnjoin?: 'none' | 'offline' | 'firstBoot';
  workgroup?: string;
  /** Whether the prepare VM runs isolated from the domain (default true). */
  networkIsolation?: boolean;
  /** MCS I/O requested (warns without a formatted temp disk). */
  installMcsio?: boolean;
  /** Set HiberbootEnabled = 0 so the next shutdown is a full one (default true). */
  disableFastStartup?: boolean;
}

export const prepareOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    platform: { enum: ['azure', 'aws', 'gcp'] },
    ceVmSku: { type: 'string', minLength: 1, maxLength: 64 },
    maxResourceVolumeMB: { type: 'integer', minimum: 0 },
    pagefile: { type: 'boolean' },
    domainUnjoin: { enum: ['none', 'offline', 'firstBoot'] },
    workgroup: { type: 'string', minLength: 1, maxLength: 15 },
    networkIsolation: { type: 'boolean' },
    installMcsio: { type: 'boolean' },
    disableFastStartup: { type: 'boolean' },
  },
} as const;

export interface PrepareResult {
  target: string;
  dryRun: boolean;
  sku?: SkuResolution;
  changes: Array<Omit<Change, 'data'>>;
  warnings: string[];
  notes: string[];
  report?: ApplyReport;
  hiveLibrary: string;
}

export function validatePrepareOptions(o: unknown): PrepareOptions {
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad('The prepare options must be a JSON object.');
  const allowed = Object.keys(prepareOptionsSchema.properties);
  const opts = o as Record<string, unknown>;
  for (const k of Object.keys(opts)) if (!allowed.includes(k)) throw bad(`Unknown prepare option "${k}" (allowed: ${allowed.join(', ')}).`);
  const enumOk = (k: string, vals: readonly string[]) => opts[k] === undefined || vals.includes(opts[k] as string) || (() => { throw bad(`${k} must be one of ${vals.join(', ')}.`); })();
  enumOk('platform', prepareOptionsSchema.properties.platform.enum);
  enumOk('domainUnjoin', prepareOptionsSchema.properties.domainUnjoin.enum);
  for (const k of ['pagefile', 'networkIsolation', 'installMcsio', 'disableFastStartup']) {
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean') throw bad(`${k} must be true or false.`);
  }
  for (const k of ['ceVmSku', 'workgroup']) if (opts[k] !== undefined && typeof opts[k] !== 'string') throw bad(`${k} must be a string.`);
  if (opts.maxResourceVolumeMB !== undefined && !(Number.isInteger(opts.maxResourceVolumeMB) && (opts.maxResourceVolumeMB as number) >= 0)) throw bad('maxResourceVolumeMB must be a whole number ≥ 0.');
  return opts as PrepareOptions;
}

function bad(msg: string): CeError {
  return new CeError('PREPARE_BAD_OPTIONS', msg, { status: 400, hint: 'See `ce prepare --help` for the options file.' });
}

/** Fast Startup off (windows.md §3.1, unverified): HiberbootEnabled = 0 in each control set a boot may pick. */
export async function planFastStartup(img: WindowsImage): Promise<Plan> {
  const plan = emptyPlan();
  const system = await img.hive('SYSTEM');
  for (const cs of controlSetsToEdit(system)) {
    const key = `${cs}\\Control\\Session Manager\\Power`;
    const k = system.key(key);
    if (num(k, 'HiberbootEnabled') === 1) {
      plan.changes.push({
        kind: 'registry', module: 'power', action: 'set-value', hive: 'SYSTEM', key, value: 'HiberbootEnabled',
        where: whereOf('SYSTEM', key, 'HiberbootEnabled'), before: showValue(k?.value('HiberbootEnabled')), after: { type: REG.DWORD, data: 0 },
        type: REG.DWORD, data: 0, reason: 'Fast Startup off: the next shutdown is a full one, so the volume is never left hibernated for the CE.',
      });
    }
  }
  return plan;
}

export async function buildPlan(img: WindowsImage, opts: PrepareOptions): Promise<{ plan: Plan; sku?: SkuResolution }> {
  const plans: Plan[] = [];
  let sku: SkuResolution | undefined;
  if (opts.pagefile !== false) {
    const p = await planPagefile(img, { platform: opts.platform ?? 'azure', sku: opts.ceVmSku, maxResourceVolumeMB: opts.maxResourceVolumeMB, installMcsio: opts.installMcsio });
    sku = p.sku;
    plans.push(p);
  }
  if (opts.domainUnjoin && opts.domainUnjoin !== 'none') {
    plans.push(await planUnjoin(img, { mode: opts.domainUnjoin, workgroup: opts.workgroup, networkIsolation: opts.networkIsolation }));
  }
  if (opts.disableFastStartup !== false) plans.push(await planFastStartup(img));
  return { plan: mergePlans(...plans), sku };
}

export async function prepareWindows(
  target: string,
  opts: PrepareOptions,
  ctx: { dryRun: boolean; signal?: AbortSignal; workDir?: string; onStep?: (s: string) => void },
): Promise<PrepareResult> {
  // Plan on a read-only mount first: a dry run, a refusal (dirty hive, no temp disk…) or a run with
  // nothing to change never mounts read-write, so the image stays byte-identical (ntfs-3g touches
  // the volume on every read-write mount). A non-raw image is edited in a temporary raw view that is
  // written back only on success, so there the read-write session can plan directly.
  const { format, fixedVhd } = await detectFormat(target);
  const inPlace = format === 'raw' || fixedVhd;
  const lib = await hiveImplementation();
  const plan = async (img: WindowsImage): Promise<[Plan, PrepareResult]> => {
    ctx.onStep?.('plan');
    const { plan, sku } = await buildPlan(img, opts);
    const result: PrepareResult = {
      target,
      dryRun: ctx.dryRun,
      sku,
      changes: plan.changes.map(({ ...c }) => {
        delete (c as { data?: unknown }).data;
        return c;
      }),
      warnings: plan.warnings,
      notes: plan.notes,
      hiveLibrary: lib,
    };
    return [plan, result];
  };
  if (ctx.dryRun || inPlace) {
    ctx.onStep?.('open');
    const [p, result] = await withWindowsImage(target, { readOnly: true, workDir: ctx.workDir, signal: ctx.signal }, plan);
    if (ctx.dryRun || !p.changes.length) return result;
  }
  ctx.onStep?.('open');
  return withWindowsImage(target, { readOnly: false, workDir: ctx.workDir, signal: ctx.signal }, async (img) => {
    const [p, result] = await plan(img);
    if (p.changes.length) {
      ctx.onStep?.('apply');
      result.report = await applyPlan(img, p, { signal: ctx.signal });
    }
    return result;
  });
}
