/**
 * Start a benchmark run from the same machine state as the others: no dirty pages of earlier
 * runs pending (`sync`), and the host's free page reporting quiet. This VM hands freed memory
 * back to its host (virtio-balloon free page reporting, /sys/module/page_reporting); pages the
 * kernel then allocates (page cache, tmpfs, a process's heap) fault on the host when first
 * written, so the same work costs 0.4 s or 4 s of system time depending on how long ago the
 * previous run freed its memory. The reporting runs in batches about 2 s apart (after `rm` of a
 * 1 GiB file: nothing for ~1.8 s, then ~200 MiB every 2 s), so a short quiet spell means nothing:
 * wait until nothing was reported for 2.5 s (CE_BENCH_SETTLE_QUIET_MS), at most 30 s. Every run
 * then starts with the memory freed before it handed back to the host, whichever tool ran last.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const REPORTED = '/sys/module/page_reporting/parameters/reported_kib';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const QUIET_MS = Number(process.env.CE_BENCH_SETTLE_QUIET_MS ?? 2500);
const STEP_MS = 250;

export async function settle(): Promise<void> {
  await execa('sync');
  if (!existsSync(REPORTED)) return;
  const reported = () => readFile(REPORTED, 'utf8').then((t) => t.trim(), () => '');
  let last = await reported();
  for (let quiet = 0, waited = 0; quiet < QUIET_MS && waited < 30_000; waited += STEP_MS) {
    await sleep(STEP_MS);
    const now = await reported();
    quiet = now === last ? quiet + STEP_MS : 0;
    last = now;
  }
}
