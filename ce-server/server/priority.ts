/**
 * CPU priority of the service's API thread (Linux nice values are per thread). Job threads lower
 * themselves to nice 10 (job-thread.ts); that was not enough under bench:e2e on 2 cores, where
 * the API thread competed at nice 0 with smbd and the pollers and spent most of its time runnable
 * but waiting for a CPU (perf sched: ~0.9 s run, ~2.4 s in the run queue after preemption per 5 s),
 * which made the p99 of the status polls. So `ce serve` raises the API thread (`--api-nice`,
 * default -5) when that is allowed: root, CAP_SYS_NICE, or RLIMIT_NICE (packer/files/ce.service: LimitNICE=-5).
 * The other threads of the process are left alone on purpose: lowering V8's platform threads too
 * (they help with every isolate's garbage collection) made the API isolate's scavenges wait for
 * them (10–58 ms instead of 5–25 ms, measured).
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Call on the API thread. Returns its nice value afterwards (null: not Linux, or `off`). */
export function prioritizeApiThread(apiNice: number | 'off'): number | null {
  if (apiNice === 'off') return null;
  let self: number;
  try {
    self = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
  try {
    setPriority(self, apiNice);
  } catch {
    /* not allowed (no CAP_SYS_NICE): keep the nice the service was started with */
  }
  return getPriority(self);
}
