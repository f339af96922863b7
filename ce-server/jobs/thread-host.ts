/**
 * Runs a job in a worker thread (for job types that name their module in `thread`): the job's
 * byte work (reading, zero detection, format assembly, hashing, SMB signing and sending) then has
 * an event loop of its own, and the API's loop only answers requests. Bytes never cross the thread
 * boundary; only options, progress, steps, log lines, checkpoints and the result do.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { answerSeeks } from '../../core/seek-data.js';
import type { JobContext, JobType } from '../../core/job-type.js';
import { CeError } from '../../core/errors.js';
import { fromWire, toWire } from './wire-error.js';
import type { FromThread, ThreadStart, ToThread } from './thread-messages.js';

// From the sources (tests, development) the thread compiles TypeScript with tsx, registered in the
// thread itself: inheriting the parent's loader (tap's ts-node) would cost seconds per job.
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const ENTRY = new URL(FROM_SOURCES ? './job-thread.ts' : './job-thread.js', import.meta.url).href;
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => { process.nextTick(() => { throw e; }); });
`;

export function runInThread(type: JobType<any, any>, ctx: JobContext, logLevel: string): Promise<unknown> {
  const start: ThreadStart = {
    module: type.thread!,
    jobType: type.type,
    jobId: ctx.jobId,
    options: ctx.options as Record<string, unknown>,
    dryRun: ctx.dryRun,
    workDir: ctx.workDir,
    checkpoint: ctx.checkpoint.get(),
    logLevel,
  };
  const tsx = FROM_SOURCES ? import.meta.resolve('tsx/esm/api') : undefined;
  const seeks = new MessageChannel();
  answerSeeks(seeks.port1);
  const worker = new Worker(BOOT, { eval: true, execArgv: [], workerData: { ...start, entry: ENTRY, tsx, seekPort: seeks.port2 }, transferList: [seeks.port2] });
  worker.once('exit', () => seeks.port1.close());
  const send = (m: ToThread) => worker.postMessage(m);
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      // The thread ends by itself once the job's handles are closed. terminate() is only the last
      // resort: stopping a thread with native work in flight (zlib, crypto) can crash Node 20.
      const stop = setTimeout(() => {
        ctx.log.warn('the job thread did not end 30 s after the job returned; terminating it');
        void worker.terminate();
      }, 30_000);
      stop.unref();
      worker.once('exit', () => clearTimeout(stop));
      fn();
    };
    const onAbort = () => send({ t: 'abort', reason: toWire(ctx.signal.reason) });
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: FromThread) => {
      switch (m.t) {
        case 'progress':
          return ctx.progress(m.p);
        case 'step':
          return ctx.step(m.name);
        case 'log':
          return relayLog(ctx, m.line);
        case 'checkpoint':
          return void ctx.checkpoint.save(m.state).then(
            () => send({ t: 'checkpoint-saved', id: m.id }),
            (e: unknown) => send({ t: 'checkpoint-saved', id: m.id, error: toWire(e) }),
          );
        case 'done':
          return settle(() => resolve(m.result));
        case 'fail':
          return settle(() => reject(fromWire(m.error)));
      }
    });
    worker.on('error', (e) => settle(() => reject(new CeError('JOB_THREAD_FAILED', `The job's worker thread failed: ${e.message}`, { status: 500, hint: 'See the service log; submit the job again.', cause: e }))));
    worker.on('exit', (code) =>
      settle(() => reject(new CeError('JOB_THREAD_FAILED', `The job's worker thread exited (code ${code}) without a result.`, { status: 500, hint: 'See the service log; submit the job again.' }))),
    );
  });
}

const OWN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'svc', 'msg', 'jobId', 'jobType']);
const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Log a line of the thread through the job's logger (already redacted there; redacted again here). */
function relayLog(ctx: JobContext, line: string): void {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  const fields = Object.fromEntries(Object.entries(o).filter(([k]) => !OWN_FIELDS.has(k)));
  ctx.log[LEVELS[Number(o.level)] ?? 'info'](fields, typeof o.msg === 'string' ? o.msg : '');
}
