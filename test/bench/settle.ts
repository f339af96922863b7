/**
 * Start a benchmark run from the same machine state as the others: no dirty pages of earlier
 * runs pending (`sync`), and the host's free page reporting quiet. This VM hands freed memory
 * back to its host (virtio-balloon free page reporting, /sys/module/page_reporting); pages the
 * kernel then allocates (page cache, tmpfs, a process's heap) fault on the host when first
 * written, so the same work costs 0.4 s or 4 s of system time depending on how long ago the
 * previous run freed its memory. Waits until nothing was reported for 0.6 s, at most 8 s.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const REPORTED = '/sys/module/page_reporting/parameters/reported_kib';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function settle(): Promise<void> {
  await execa('sync');
  if (!existsSync(REPORTED)) return;
  const reported = () => readFile(REPORTED, 'utf8').then((t) => t.trim(), () => '');
  let last = await reported();
  for (let quiet = 0, waited = 0; quiet < 2 && waited < 8000; waited += 300) {
    await sleep(300);
    const now = await reported();
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}
