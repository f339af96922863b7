/**
 * CPU priority of the service's threads (Linux nice values are per thread). The API thread only
 * answers requests; every other thread of the process does bulk work for the jobs: the job threads
 * (nice 10, job-thread.ts), libuv's threadpool (the jobs' file reads) and V8's platform threads
 * (the job isolates' garbage collection). Measured under bench:e2e on 2 cores, the API thread at
 * the same nice as its competitors spent most of its time runnable but waiting for a CPU (perf
 * sched: ~0.9 s run, ~2.4 s in the run queue after preemption per 5 s), which is the p99 of the
 * status polls. So: the API thread is raised (`--api-nice`, default -5) when that is allowed (root,
 * CAP_SYS_NICE, or a systemd unit that starts the service with Nice=), and the other threads that
 * exist now are lowered to the job threads' nice, which any process may do.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

export const BULK_THREAD_NICE = 10;

export interface ThreadPriorities {
  /** The API thread's nice value after the call (null: not Linux). */
  apiThreadNice: number | null;
  /** Other threads of the process lowered to BULK_THREAD_NICE. */
  lowered: number;
}

/** Call on the API thread once the service listens (libuv's threadpool exists by then). `off`: change nothing. */
export function prioritizeApiThread(apiNice: number | 'off'): ThreadPriorities {
  if (apiNice === 'off') return { apiThreadNice: null, lowered: 0 };
  let self: number;
  try {
    self = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return { apiThreadNice: null, lowered: 0 };
  }
  try {
    setPriority(self, apiNice);
  } catch {
    /* not allowed (no CAP_SYS_NICE): keep the nice the service was started with */
  }
  let lowered = 0;
  for (const name of readdirSync('/proc/self/task')) {
    const tid = Number(name);
    if (tid === self) continue;
    try {
      if (getPriority(tid) < BULK_THREAD_NICE) {
        setPriority(tid, BULK_THREAD_NICE);
        lowered++;
      }
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return { apiThreadNice: getPriority(self), lowered };
}
