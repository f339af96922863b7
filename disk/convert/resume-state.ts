/**
 * The resume state file `<dst>.partial.state` beside the partial output: which source, target
 * and options the partial was made from, and the last committed virtual offset. A resume only
 * continues when all of it matches; otherwise the conversion starts over.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';

export interface ResumeState {
  v: 1;
  source: { path: string; size: number; mtimeMs: number };
  target: string;
  key: string;
  virtualOffset: number;
  fileOffset: number;
  savedAt: string;
}

export const statePath = (partial: string) => `${partial}.state`;

export async function loadState(partial: string): Promise<ResumeState | undefined> {
  try {
    const s = JSON.parse(await readFile(statePath(partial), 'utf8')) as ResumeState;
    return s.v === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

export async function saveState(partial: string, s: ResumeState): Promise<void> {
  const p = statePath(partial);
  await writeFile(`${p}.tmp`, JSON.stringify(s));
  await rename(`${p}.tmp`, p);
}

export async function removeState(partial: string): Promise<void> {
  await rm(statePath(partial), { force: true });
}

export function sameJob(a: ResumeState, b: Omit<ResumeState, 'virtualOffset' | 'fileOffset' | 'savedAt'>): boolean {
  return a.source.path === b.source.path && a.source.size === b.source.size && a.source.mtimeMs === b.source.mtimeMs && a.target === b.target && a.key === b.key;
}
