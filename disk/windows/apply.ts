/**
 * Apply a plan to an open read-write WindowsImage: registry changes per hive, then for each
 * touched hive: a backup `<hive>.ce-backup` (kept from the first run: the state before the CE),
 * an atomic save (temp file + rename, via the hive library), and the stale transaction logs
 * emptied (windows.md §3.1: Windows must not replay old log pages over our edits; unverified).
 * A crash at any point leaves the old or the new hive, never a half-written one, plus the backup.
 */
import { copyFile, open, readdir, rename, stat, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
    await backupOnce(path);
    const logs = await logFiles(path);
    for (const log of logs) await backupOnce(log);
    await testHook('after-backup');
    await h.save({ noBackup: true });
    const win = (p: string) => 'C:\\' + p.slice(img.root.length + 1).replace(/\//g, '\\');
    report.hives.push({ hive: name, path: win(path), backup: win(backup), logsEmptied: (await emptyStaleLogs(path, logs)).map(win) });
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

/** `<file>.ce-backup`, written once (partial + fsync + rename): the state before the CE first touched it. */
async function backupOnce(path: string): Promise<void> {
  const backup = `${path}.ce-backup`;
  if (await exists(backup)) return;
  await copyFile(path, `${backup}.partial`);
  const fh = await open(`${backup}.partial`, 'r+');
  await fh.sync();
  await fh.close();
  await rename(`${backup}.partial`, backup);
  fsyncDir(dirname(path));
}

/** Non-empty `.LOG1/.LOG2/.LOG` beside a hive (names matched case-insensitively). */
async function logFiles(hivePath: string): Promise<string[]> {
  const dir = dirname(hivePath);
  const base = hivePath.slice(dir.length + 1).toLowerCase();
  const out: string[] = [];
  for (const f of await readdir(dir)) {
    const l = f.toLowerCase();
    if (l !== `${base}.log1` && l !== `${base}.log2` && l !== `${base}.log`) continue;
    if ((await stat(join(dir, f))).size > 0) out.push(join(dir, f));
  }
  return out;
}

/** Empty the logs beside a saved hive (backed up before the save): their pages predate our edit. The TS hive library does this itself; the hivex fallback does not. */
async function emptyStaleLogs(hivePath: string, before: string[]): Promise<string[]> {
  for (const l of await logFiles(hivePath)) await truncate(l, 0);
  return before;
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

