/**
 * After the isolated boot: remove the runner and the staged installers from the volume (the service
 * entry is removed from SYSTEM by planServiceRemoval in service.ts). Idempotent.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { COMPONENTS_DIR, FIRSTBOOT_DIR, CE_DIR } from './layout.js';
import { readdir, rmdir } from 'node:fs/promises';

export async function removeRunnerFiles(volumeRoot: string): Promise<string[]> {
  const removed: string[] = [];
  for (const rel of [FIRSTBOOT_DIR, COMPONENTS_DIR]) {
    const p = join(volumeRoot, rel);
    if (await stat(p).catch(() => undefined)) {
      await rm(p, { recursive: true, force: true });
      removed.push(rel);
    }
  }
  // Program Files\CitrixCE itself, when nothing else is left in it.
  const ce = join(volumeRoot, CE_DIR);
  const left = await readdir(ce).catch(() => undefined);
  if (left && left.length === 0) {
    await rmdir(ce);
    removed.push(CE_DIR);
  }
  return removed;
}
