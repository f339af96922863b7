/**
 * Start every benchmark run from the same machine state: no dirty pages of earlier runs pending,
 * and free memory the host has backed.
 *
 * Why: this VM hands freed memory back to its host (virtio-balloon free page reporting,
 * /sys/module/page_reporting). A page the kernel allocates after it was reported (page cache,
 * tmpfs, a process's heap) faults on the host when first written: writing 1 GiB into the page
 * cache then costs ~3 s of system time instead of ~0.5 s, for qemu-img, smbclient, smbd and ce
 * alike, and that cost, not the tool, decides the run. The reporting runs in batches about 2 s
 * apart (after `rm` of a 1 GiB file: nothing for ~1.8 s, then ~200 MiB every 2 s), so the old
 * "wait for 0.6 s without a report" often returned between two batches, and runs started in a
 * random mix of backed and unbacked memory. Waiting until everything is reported takes tens of
 * seconds per run and measures the host's page faults.
 *
 * So: `sync`, then a child process writes to CE_BENCH_WARM_MIB (default 6144) MiB of fresh memory
 * and exits, and the run starts at once: its allocations find pages the host has just backed, as
 * in a long-running CE VM (cloud hypervisors do not take freed guest memory back). The reporter
 * starts ~1.8 s later and then takes ~100 MiB/s, so long runs still meet some unbacked pages, the
 * same for either tool. CE_BENCH_WARM_MIB=0 skips the warming (on a machine without reporting).
 * Why 6 GiB: with 2 GiB, whether a run met reported pages depended on when it began writing: the
 * same qemu-img raw→vhd-fixed took 0.33-0.36 s started at once and 1.4-3.3 s started 0.2-0.5 s
 * later, so ce (0.12 s of start-up) lost runs to the host. With 6 GiB the reporter has more free
 * memory to walk than a run allocates: 3 rounds ce 0.52-0.70 s, qemu-img 0.59-0.81 s.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';

const REPORTING = '/sys/module/page_reporting';
const WARM_MIB = Number(process.env.CE_BENCH_WARM_MIB ?? 6144);

/** Touch every page of `mib` MiB in a child process, then let it exit (the memory goes free, backed). */
const WARM = `const b = []; for (let left = Number(process.argv[1]); left > 0; left -= 256) b.push(Buffer.allocUnsafeSlow(Math.min(256, left) * 1048576).fill(1));`;

export async function settle(): Promise<void> {
  await execa('sync');
  if (WARM_MIB > 0 && existsSync(REPORTING)) await execa(process.execPath, ['-e', WARM, String(WARM_MIB)]);
}
