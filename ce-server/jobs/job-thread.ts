/**
 * The worker-thread side of a threaded job (see thread-host.ts): imports the module that exports
 * the job type, gives it a JobContext whose progress, steps, log lines and checkpoints go to the
 * runner by message, and answers with the result or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { pino } from 'pino';
import type { JobContext, JobType } from '../../core/job-type.js';
import { loggerOptions } from '../../core/logger.js';
import { seekThroughMainThread } from '../../core/seek-data.js';
import { fromWire, toWire } from './wire-error.js';
import type { FromThread, ThreadStart, ToThread } from './thread-messages.js';

const start = workerData as ThreadStart;
const port = parentPort!;
if (start.seekPort) seekThroughMainThread(start.seekPort);
const post = (m: FromThread) => port.postMessage(m);
const JOB_THREAD_NICE = 10;
lowerThreadPriority();

const ac = new AbortController();
const saved = new Map<number, { resolve(): void; reject(e: Error): void }>();
let nextCheckpoint = 1;
port.on('message', (m: ToThread) => {
  if (m.t === 'abort') ac.abort(fromWire(m.reason));
  else if (m.t === 'checkpoint-saved') {
    const p = saved.get(m.id);
    saved.delete(m.id);
    if (m.error) p?.reject(fromWire(m.error));
    else p?.resolve();
  }
});

// Lines are serialised (and redacted) here with the service's options; the runner logs them on.
const log = pino(loggerOptions(start.logLevel), { write: (line: string) => post({ t: 'log', line }) }).child({ jobId: start.jobId, jobType: start.jobType });

/**
 * Job threads run at nice 10, the API thread at 0: when the CPU is short (2 cores shared with
 * smbd, qemu-img, several jobs), the kernel lets the API answer first, and the jobs lose nothing
 * when it is idle. Linux nice values are per thread (a thread id is a task id) and inherited by
 * the threads this one starts (the SMB GCM worker, the deflate pool). Best effort elsewhere.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (tid > 0) setPriority(tid, JOB_THREAD_NICE);
  } catch {
    /* not Linux, or not allowed: run at the service's priority */
  }
}

async function main(): Promise<void> {
  const mod = (await import(start.module)) as Record<string, unknown>;
  const type = Object.values(mod).find((v): v is JobType => typeof v === 'object' && v !== null && (v as JobType).type === start.jobType && typeof (v as JobType).run === 'function');
  if (!type) throw new Error(`${start.module} exports no job type ${start.jobType}`);
  let checkpoint = start.checkpoint;
  const ctx: JobContext = {
    jobId: start.jobId,
    options: start.options,
    dryRun: start.dryRun,
    signal: ac.signal,
    log,
    workDir: start.workDir,
    progress: (p) => post({ t: 'progress', p }),
    step: (name) => post({ t: 'step', name }),
    checkpoint: {
      get: () => checkpoint,
      save: (state) => {
        checkpoint = state;
        const id = nextCheckpoint++;
        return new Promise<void>((resolve, reject) => {
          saved.set(id, { resolve, reject });
          post({ t: 'checkpoint', id, state });
        });
      },
    },
  };
  const result = await type.run(ctx);
  post({ t: 'done', result });
}

// After the answer the port no longer holds the thread open: it ends when the job's own handles do.
main()
  .catch((e: unknown) => post({ t: 'fail', error: toWire(e) }))
  .finally(() => port.unref());
