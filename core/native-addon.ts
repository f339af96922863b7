/**
 * Loading the CE's optional native addons (built by scripts/build-native.sh): the first existing
 * candidate path is required; a missing, unloadable or foreign file is a reason, not an error,
 * and the caller falls back to its JS path.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface AddonLoad<T> {
  addon?: T;
  /** Why there is no addon (for status lines and logs). */
  why?: string;
}

/**
 * `candidates` are relative to `from` (the caller's import.meta.url): beside the module (sources,
 * release) or in the source tree (dist/ of a checkout). `offVar=off` in the environment turns it off.
 */
export function loadAddon<T>(from: string, candidates: string[], offVar: string, exportsNeeded: string[]): AddonLoad<T> {
  if (process.env[offVar] === 'off') return { why: `turned off (${offVar}=off)` };
  const path = candidates.map((c) => fileURLToPath(new URL(c, from))).find((p) => existsSync(p));
  if (!path) return { why: 'not built (scripts/build-native.sh)' };
  try {
    const addon = createRequire(from)(path) as Record<string, unknown>;
    if (exportsNeeded.some((name) => typeof addon[name] !== 'function')) return { why: `${path} is not the addon expected here` };
    return { addon: addon as T };
  } catch (e) {
    return { why: `${path} did not load: ${(e as Error).message}` };
  }
}
