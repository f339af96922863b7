/**
 * What this machine can do. Tests that need hardware or kernel features the machine lacks
 * skip with a message naming it; tools installed by scripts/setup.sh are required, not skipped.
 */
import { existsSync, accessSync, constants } from 'node:fs';

export function hasKvm(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export const isRoot = process.getuid?.() === 0;
export const hasFuse = existsSync('/dev/fuse');
export const hasLoop = existsSync('/dev/loop-control');

/** tap's `skip` option value: false when all is there, else a message naming what is missing. */
export function needs(what: { root?: boolean; kvm?: boolean; fuse?: boolean; loop?: boolean }): false | string {
  const missing: string[] = [];
  if (what.root && !isRoot) missing.push('root');
  if (what.kvm && !hasKvm()) missing.push('/dev/kvm');
  if (what.fuse && !hasFuse) missing.push('/dev/fuse (FUSE)');
  if (what.loop && !hasLoop) missing.push('loop devices (/dev/loop-control)');
  return missing.length ? `needs ${missing.join(', ')}` : false;
}
