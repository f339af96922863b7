/**
 * Apply a plan to an open read-write WindowsImage: registry changes per hive, then for each
 * touched hive: a backup `<hive>.ce-backup` (kept from the first run: the state before the CE),
 * an atomic save (temp file + rename, via the hive library), and the stale transaction logs
 * emptied (windows.md §3.1: Windows must not replay old log pages over our edits; unverified).
 * A crash at any point leaves the old or the new hive, never a half-written one, plus the backup.
 */
import { copyFile, open, rename, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CeError, throwIfCancelled } from '../../core/errors.js';
import { exists, fsyncDir } from '../../core/atomic.js';
import type { WindowsImage } from './image.js';
import type { HiveName, Plan, RegistryChange, StageScriptChange } from './plan.js';

export interface ApplyReport {
  applied: Array<{ module: string; action: string; where: string }>;
  hives: Array<{ hive: HiveName; path: string; backup: string; logsEmptied: string[] }>;
  /** Changes handed to another component (first-boot scripts for the vda/ runner). */
  staged: Array<{ name: string; priority: number; by: string }>;
  deferred: StageScriptChange[];
}

/** vda/ registers how a first-boot script is staged on the image; without it scripts stay in the report as deferred. */
export type StageScriptHook = (img: WindowsImage, change: StageScriptChange) => Promise<string>;
let stageHook: StageScriptHook | undefined;
export function setStageScriptHook(h: StageScriptHook | undefined): void {
  stageHook = h;
}

export async function applyPlan(img: WindowsImage, plan: Plan, opts: { signal?: AbortSignal } = {}): Promise<ApplyReport> {
  if (img.readOnly) throw new CeError('WINDOWS_READ_ONLY', 'Cannot apply a plan to an image opened read-only.', { status: 500 });
  const report: ApplyReport = { applied: [], hives: [], staged: [], deferred: [] };
  const byHive = new Map<HiveName, RegistryChange[]>();
  for (const c of plan.changes) {
    if (c.kind === 'registry') byHive.set(c.hive, [...(byHive.get(c.hive) ?? []), c]);
  }
  for (const [name, changes] of byHive) {
    throwIfCancelled(opts.signal);
    const h = await img.hive(name);
    for (const c of changes) {
      applyOne(h, c);
      report.applied.push({ module: c.module, action: c.action, where: c.where });
    }
    const path = (await img.hivePath(name))!;
    const backup = `${path}.ce-backup`;
    if (!(await exists(backup))) {
      await copyFile(path, `${backup}.partial`);
      const fh = await open(`${backup}.partial`, 'r+');
      await fh.sync();
      await fh.close();
      await rename(`${backup}.partial`, backup);
      fsyncDir(dirname(path));
    }
    await testHook('after-backup');
    await h.save({ noBackup: true });
    const win = (p: string) => 'C:\\' + p.slice(img.root.length + 1).replace(/\//g, '\\');
    report.hives.push({ hive: name, path: win(path), backup: win(backup), logsEmptied: (await emptyStaleLogs(path)).map(win) });
  }
  for (const c of plan.changes) {
    if (c.kind !== 'stage-script') continue;
    if (stageHook) report.staged.push({ name: c.name, priority: c.priority, by: await stageHook(img, c) });
    else report.deferred.push(c);
  }
  return report;
}

function applyOne(h: Awaited<ReturnType<WindowsImage['hive']>>, c: RegistryChange): void {
  switch (c.action) {
    case 'set-value':
      h.ensureKey(c.key).setValue(c.value ?? '', c.type!, c.data!);
      return;
    case 'delete-value':
      h.key(c.key)?.deleteValue(c.value ?? '');
      return;
    case 'create-key':
      h.ensureKey(c.key);
      return;
    case 'delete-key': {
      const i = c.key.lastIndexOf('\\');
      const parent = i < 0 ? h.key('') : h.key(c.key.slice(0, i));
      parent?.deleteKey(c.key.slice(i + 1));
      return;
    }
  }
}

/** Empty `.LOG1/.LOG2/.LOG` next to a saved hive (after copying them to `.ce-backup`): their pages predate our edit. */
async function emptyStaleLogs(hivePath: string): Promise<string[]> {
  const out: string[] = [];
  for (const ext of ['.LOG1', '.LOG2', '.LOG']) {
    const dir = dirname(hivePath);
    const { readdir } = await import('node:fs/promises');
    const base = hivePath.slice(dir.length + 1);
    const hit = (await readdir(dir)).find((f) => f.toLowerCase() === (base + ext).toLowerCase());
    if (!hit) continue;
    const p = `${dir}/${hit}`;
    if ((await stat(p)).size === 0) continue;
    if (!(await exists(`${p}.ce-backup`))) await copyFile(p, `${p}.ce-backup`);
    await truncate(p, 0);
    out.push(p);
  }
  return out;
}

/**
 * Test hook (CE_TEST_HOOK=<point>:<pause|kill>): lets the crash test stop the process exactly between
 * the backup and the save. Never set in production.
 */
async function testHook(point: string): Promise<void> {
  const spec = process.env.CE_TEST_HOOK;
  if (!spec || !spec.startsWith(`${point}:`)) return;
  const what = spec.slice(point.length + 1);
  process.stderr.write(`CE_TEST_HOOK reached ${point}\n`);
  if (what === 'kill') process.kill(process.pid, 'SIGKILL');
  if (what === 'pause') await new Promise(() => setInterval(() => undefined, 1000)); // keeps the event loop alive until a signal
}

