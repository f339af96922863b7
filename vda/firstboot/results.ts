/**
 * Read what the first boot did, offline, from the runner directory on the volume:
 * results\<name>.exit ("<exit code> <attempts>", written by the host), results\<name>.json
 * (written by the script), scripts\ vs scripts-done\, the `complete` sentinel and log.txt.
 * A missing `complete` is a failure (windows.md §2.3, result channel).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { COMPLETE_FILE, EXIT_NO_REBOOT, EXIT_RETRY, FIRSTBOOT_DIR, LOG_FILE, SUBDIRS } from './layout.js';

export type ScriptStatus = 'ok' | 'unchanged' | 'failed' | 'retry' | 'pending' | 'unknown';

export interface ScriptOutcome {
  script: string;
  status: ScriptStatus;
  ran: boolean;
  exitCode?: number;
  attempts?: number;
  message?: string;
  /** The script's own result JSON, as written. */
  result?: Record<string, unknown>;
}

export interface RunnerResults {
  complete: boolean;
  /** complete, and every script ok or unchanged. */
  succeeded: boolean;
  scripts: ScriptOutcome[];
  logTail: string[];
}

const MAX_RESULT_BYTES = 256 * 1024;

async function readSmall(path: string, max = MAX_RESULT_BYTES): Promise<string | undefined> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return undefined;
    const buf = await readFile(path);
    return buf.subarray(Math.max(0, buf.length - max)).toString('utf8').replace(/^\uFEFF/, '');
  } catch {
    return undefined;
  }
}

async function list(dir: string, ext: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.toLowerCase().endsWith(ext)).sort();
  } catch {
    return [];
  }
}

export async function collectResults(volumeRoot: string): Promise<RunnerResults> {
  const dir = join(volumeRoot, FIRSTBOOT_DIR);
  const pending = (await list(join(dir, SUBDIRS.scripts), '.bat')).map((n) => n.slice(0, -4));
  const done = (await list(join(dir, SUBDIRS.done), '.bat')).map((n) => n.slice(0, -4));
  const scripts: ScriptOutcome[] = [];
  for (const name of [...done, ...pending].sort()) {
    const o: ScriptOutcome = { script: name, status: 'unknown', ran: done.includes(name) };
    const exit = await readSmall(join(dir, SUBDIRS.results, `${name}.exit`), 256);
    if (exit) {
      const [code, attempts] = exit.trim().split(/\s+/).map(Number);
      if (Number.isInteger(code)) o.exitCode = code;
      if (Number.isInteger(attempts)) o.attempts = attempts;
    }
    const json = await readSmall(join(dir, SUBDIRS.results, `${name}.json`));
    if (json) {
      try {
        const r = JSON.parse(json) as Record<string, unknown>;
        o.result = r;
        if (typeof r.message === 'string') o.message = r.message;
        if (typeof r.status === 'string' && ['ok', 'unchanged', 'failed', 'retry'].includes(r.status)) o.status = r.status as ScriptStatus;
      } catch {
        o.message = 'the result file is not JSON';
      }
    }
    if (!o.ran) o.status = o.exitCode === EXIT_RETRY ? 'retry' : 'pending';
    else if (o.status === 'unknown' && o.exitCode !== undefined) o.status = o.exitCode === 0 || o.exitCode === EXIT_NO_REBOOT ? 'ok' : 'failed';
    scripts.push(o);
  }
  const complete = (await stat(join(dir, COMPLETE_FILE)).catch(() => undefined))?.isFile() === true;
  const log = (await readSmall(join(dir, LOG_FILE), 64 * 1024)) ?? '';
  return {
    complete,
    succeeded: complete && scripts.every((s) => s.status === 'ok' || s.status === 'unchanged'),
    scripts,
    logTail: log.split(/\r?\n/).filter((l) => l.length > 0).slice(-50),
  };
}
