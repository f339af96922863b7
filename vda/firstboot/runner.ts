/**
 * Turn a list of first-boot scripts into the runner's files (names, order, CRLF) and write them
 * onto a mounted Windows volume. The service host binary is copied next to them; the service
 * entry in SYSTEM is vda/firstboot/service.ts.
 */
import { mkdir, copyFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CeError } from '../../core/errors.js';
import { exists } from '../../core/atomic.js';
import { COMPLETE_FILE, FIRSTBOOT_DIR, HOST_EXE, SUBDIRS, crlf, scriptBaseName } from './layout.js';
import { renderBat, renderPs1, type FirstbootScript } from './scripts.js';
import { hostBinaryPath } from './host-binary.js';
import type { StageScriptChange } from '../../disk/windows/plan.js';

export interface RunnerFile {
  /** Relative to the volume root, forward slashes. */
  path: string;
  content: string;
}

export interface PlannedScript {
  baseName: string;
  description: string;
  bat: RunnerFile;
  ps1: RunnerFile;
}

/** A script the runner will run: a complete PowerShell text (CRLF) with its name and priority. */
export interface RunnerScript {
  name: string;
  priority: number;
  description: string;
  ps1: string;
}

/** One of ours: the prelude-wrapped body (vda/firstboot/scripts.ts). */
export function fromFirstbootScript(s: FirstbootScript): RunnerScript {
  return { name: s.name, priority: s.priority, description: s.description, ps1: renderPs1(s) };
}

/**
 * A script another module asked for through the plan (kind 'stage-script', e.g. network/domain's
 * online unjoin): its PowerShell runs as given; its exit code follows the same protocol.
 */
export function fromStageChange(c: StageScriptChange): RunnerScript {
  return { name: c.name, priority: c.priority, description: `[${c.module}] ${c.reason}`, ps1: crlf(c.content) };
}

/** As a plan change (module 'vda'), so dry runs show every first-boot script with the other changes. */
export function toStageChange(s: FirstbootScript, requires: string[] = ['isolated-boot']): StageScriptChange {
  return {
    kind: 'stage-script',
    module: 'vda',
    action: 'stage-script',
    where: 'first-boot runner (C:\\Program Files\\CitrixCE\\Firstboot)',
    name: s.name,
    priority: s.priority,
    language: 'powershell',
    content: renderPs1(s),
    requires,
    before: null,
    after: { name: s.name, priority: s.priority },
    reason: s.description,
  };
}

/** Order by priority (stable for equal priorities), then name `%04d-%04d-name`. */
export function planScripts(scripts: Array<FirstbootScript | RunnerScript>): PlannedScript[] {
  const rs = scripts.map((s) => ('body' in s ? fromFirstbootScript(s) : s));
  const sorted = rs.map((s, i) => ({ s, i })).sort((a, b) => a.s.priority - b.s.priority || a.i - b.i);
  return sorted.map(({ s }, counter) => {
    const base = scriptBaseName(s.priority, counter + 1, s.name);
    return {
      baseName: base,
      description: s.description,
      bat: { path: `${FIRSTBOOT_DIR}/${SUBDIRS.scripts}/${base}.bat`, content: renderBat(base, s.description) },
      ps1: { path: `${FIRSTBOOT_DIR}/${SUBDIRS.temp}/${base}.ps1`, content: crlf(s.ps1) },
    };
  });
}

/**
 * Write the runner directory onto the mounted volume. Refuses when a previous runner is still
 * there (a failed or interrupted prepare): the caller removes it first (vda/firstboot/cleanup.ts).
 */
export async function writeRunner(volumeRoot: string, planned: PlannedScript[], opts: { hostExe?: string } = {}): Promise<string[]> {
  const dir = join(volumeRoot, FIRSTBOOT_DIR);
  if (await exists(dir)) {
    throw new CeError('FIRSTBOOT_RUNNER_PRESENT', `A first-boot runner is already staged on the volume (${FIRSTBOOT_DIR}).`, {
      hint: 'A previous prepare did not finish; its runner is removed by the cleanup step (ce vda cleanup) before a new one is staged.',
      status: 409,
    });
  }
  const hostExe = opts.hostExe ?? hostBinaryPath();
  await stat(hostExe).catch(() => {
    throw new CeError('FIRSTBOOT_HOST_MISSING', `The first-boot service host ${hostExe} is not built.`, {
      hint: 'Run npm run build:windows (needs gcc-mingw-w64-x86-64).',
      status: 500,
    });
  });
  const written: string[] = [];
  for (const sub of Object.values(SUBDIRS)) await mkdir(join(dir, sub), { recursive: true });
  await copyFile(hostExe, join(dir, HOST_EXE));
  written.push(`${FIRSTBOOT_DIR}/${HOST_EXE}`);
  for (const p of planned) {
    for (const f of [p.ps1, p.bat]) {
      await writeFile(join(volumeRoot, f.path), f.content);
      written.push(f.path);
    }
  }
  return written;
}

export { COMPLETE_FILE };
