/**
 * The plan model shared by every offline edit module (pagefile/, network/domain/, vda/…).
 * A module inspects the open hives and returns a `Plan`: the changes it would make, each with
 * the full HKLM path and the value before and after. `--dry-run` prints the plan; `applyPlan`
 * (apply.ts) performs it on the hives, backs each hive up, saves atomically and returns the report.
 */
import type { RegData } from '../hive/types.js';

export type HiveName = 'SYSTEM' | 'SOFTWARE' | 'SECURITY' | 'SAM' | 'DEFAULT';

export const HIVE_ROOT: Record<HiveName, string> = {
  SYSTEM: 'HKLM\\SYSTEM',
  SOFTWARE: 'HKLM\\SOFTWARE',
  SECURITY: 'HKLM\\SECURITY',
  SAM: 'HKLM\\SAM',
  DEFAULT: 'HKU\\.DEFAULT',
};

/** A value as shown in plans and reports (Buffers as hex, bigints as strings). */
export type ShownValue = { type: number; data: string | string[] | number } | null;

interface ChangeBase {
  /** The module that asked for it: pagefile, domain, vda… */
  module: string;
  /** One line for humans: why. */
  reason: string;
}

export type RegistryChange = ChangeBase & {
  kind: 'registry';
  action: 'set-value' | 'delete-value' | 'delete-key' | 'create-key';
  hive: HiveName;
  /** Key path inside the hive (e.g. ControlSet001\Control\Session Manager\Memory Management). */
  key: string;
  /** Value name ('' = default) for value actions. */
  value?: string;
  /** Full path for display: HKLM\SYSTEM\ControlSet001\…[\value]. */
  where: string;
  before: ShownValue;
  after: ShownValue;
  /** For set-value: the type and data to write. */
  type?: number;
  data?: RegData;
};

/** A file staged on the Windows volume (e.g. a first-boot script). Applied by its owner (vda/ runner). */
export type StageScriptChange = ChangeBase & {
  kind: 'stage-script';
  action: 'stage-script';
  where: string;
  name: string;
  /** First-boot order, 0–9999 (windows.md §2.3). */
  priority: number;
  language: 'powershell';
  content: string;
  /** Preconditions the runner must enforce (e.g. network isolation). */
  requires: string[];
  before: null;
  after: { name: string; priority: number };
};

export type Change = RegistryChange | StageScriptChange;

export interface Plan {
  changes: Change[];
  /** Things the user should know (no temp disk for MCSIO, unjoin caveats…). */
  warnings: string[];
  /** Module notes: "not joined: nothing to do", "pagefile already on D:". */
  notes: string[];
}

export function emptyPlan(): Plan {
  return { changes: [], warnings: [], notes: [] };
}

export function mergePlans(...plans: Plan[]): Plan {
  return {
    changes: plans.flatMap((p) => p.changes),
    warnings: plans.flatMap((p) => p.warnings),
    notes: plans.flatMap((p) => p.notes),
  };
}

export function whereOf(hive: HiveName, key: string, value?: string): string {
  const k = `${HIVE_ROOT[hive]}\\${key}`;
  return value === undefined ? k : `${k}\\${value === '' ? '(Default)' : value}`;
}

export function showValue(v: { type: number; data: RegData } | undefined): ShownValue {
  if (!v) return null;
  const d = v.data;
  if (Buffer.isBuffer(d)) return { type: v.type, data: d.toString('hex') };
  if (typeof d === 'bigint') return { type: v.type, data: d.toString() };
  return { type: v.type, data: d };
}

/** Equal for planning purposes (so an already-correct value is not re-written). */
export function sameValue(a: { type: number; data: RegData } | undefined, type: number, data: RegData): boolean {
  if (!a || a.type !== type) return false;
  return JSON.stringify(showValue(a)) === JSON.stringify(showValue({ type, data }));
}

export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  for (const c of plan.changes) {
    if (c.kind === 'registry') {
      const b = c.before ? fmt(c.before) : '(absent)';
      const a = c.after ? fmt(c.after) : '(absent)';
      lines.push(`[${c.module}] ${c.action} ${c.where}`, `    before: ${b}`, `    after:  ${a}`, `    why: ${c.reason}`);
    } else {
      lines.push(`[${c.module}] stage-script ${c.name} (priority ${c.priority}, requires ${c.requires.join(', ') || 'nothing'})`, `    why: ${c.reason}`);
    }
  }
  if (!plan.changes.length) lines.push('No changes.');
  for (const n of plan.notes) lines.push(`note: ${n}`);
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

function fmt(v: NonNullable<ShownValue>): string {
  return Array.isArray(v.data) ? JSON.stringify(v.data) : String(v.data);
}
