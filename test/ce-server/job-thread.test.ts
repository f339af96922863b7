/**
 * Byte-heavy job types run in worker threads (ce-server/jobs/thread-host.ts): the job sees the
 * same JobContext (options with secrets, steps, progress, log, checkpoints, cancel), errors keep
 * their code, hint and status, a crashing thread fails the job with a typed error, and lseek for
 * sparse sources works from the thread (through the main thread, core/seek-data.ts).
 */
import t from 'tap';
import { PassThrough } from 'node:stream';
import { open } from 'node:fs/promises';
import { threadId } from 'node:worker_threads';
import { pino } from 'pino';
import { loggerOptions } from '../../core/logger.js';
import { REDACTED } from '../../core/redact.js';
import { JobStore } from '../../ce-server/jobs/store.js';
import { JobRunner } from '../../ce-server/jobs/runner.js';
import { threadProbeJob } from './fixtures/thread-jobs.js';
import { tempDir, type Teardownable } from '../helpers/tmp.js';
import { waitFor } from '../helpers/service.js';

async function setup(t: Teardownable) {
  const dir = await tempDir(t);
  const store = new JobStore(dir);
  await store.open();
  t.teardown(() => store.close());
  let logs = '';
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logs += c.toString()));
  const runner = new JobRunner(store, new Map([[threadProbeJob.type, threadProbeJob as any]]), pino(loggerOptions('info'), sink), { workDir: `${dir}/work`, maxConcurrent: 2 });
  const finished = (id: string) => waitFor(async () => { const j = runner.get(id)!; return ['succeeded', 'failed', 'cancelled'].includes(j.state) && j; }, 30_000, `job ${id}`);
  return { runner, store, logs: () => logs, finished };
}

t.test('a threaded job gets its context and returns its result', async (t) => {
  const { runner, logs, finished } = await setup(t);
  const { job } = await runner.submit({ type: 'thread-probe', options: { mode: 'ok', password: 'hunter2-secret' } });
  const j = await finished(job.id);
  t.equal(j.state, 'succeeded');
  const r = j.result as Record<string, unknown>;
  t.not(r.threadId, threadId, 'ran in another thread');
  t.equal(r.nice, 10, 'at a lower CPU priority than the API thread');
  t.equal(r.before, undefined);
  t.same(r.credential, { password: REDACTED }, 'the stored result is redacted like any other');
  t.same(j.checkpoint, { block: 7 }, 'checkpoint saved through the runner');
  t.equal(j.steps[0]?.name, 'probe');
  t.same(j.progress?.bytesTotal, 10);
  t.match(logs(), /"msg":"probing"/, 'the thread logs through the service logger');
  t.match(logs(), new RegExp(`"jobId":"${job.id}"`));
  t.notMatch(logs(), /hunter2-secret/, 'no secret in the log');
});

t.test('a CeError thrown in the thread keeps code, hint, status and details', async (t) => {
  const { runner, finished } = await setup(t);
  const { job } = await runner.submit({ type: 'thread-probe', options: { mode: 'fail' } });
  const j = await finished(job.id);
  t.equal(j.state, 'failed');
  t.same(j.error, { code: 'PROBE_FAILED', message: 'The probe failed on purpose.', hint: 'It always does.', details: { at: 3 } });
});

t.test('cancel reaches the thread', async (t) => {
  const { runner, finished } = await setup(t);
  const { job } = await runner.submit({ type: 'thread-probe', options: { mode: 'wait' } });
  await waitFor(async () => runner.get(job.id)?.step === 'probe', 30_000, 'thread started');
  await runner.cancel(job.id);
  t.equal((await finished(job.id)).state, 'cancelled');
});

t.test('an uncaught exception in the thread fails the job with JOB_THREAD_FAILED, the service lives on', async (t) => {
  const { runner, finished } = await setup(t);
  const { job } = await runner.submit({ type: 'thread-probe', options: { mode: 'crash' } });
  const j = await finished(job.id);
  t.equal(j.state, 'failed');
  t.equal(j.error?.code, 'JOB_THREAD_FAILED');
  t.match(j.error?.message, /boom/);
});

t.test('SEEK_DATA/SEEK_HOLE from a job thread go through the main thread', async (t) => {
  const { runner, finished } = await setup(t);
  const dir = await tempDir(t);
  const fh = await open(`${dir}/sparse`, 'w');
  await fh.truncate(64 << 20);
  await fh.write(Buffer.alloc(1 << 20, 1), 0, 1 << 20, 32 << 20);
  await fh.close();
  const { job } = await runner.submit({ type: 'thread-probe', options: { mode: 'ok', sparseFile: `${dir}/sparse` } });
  const j = await finished(job.id);
  t.equal(j.state, 'succeeded');
  t.same((j.result as { extents: unknown }).extents, [[32 << 20, 33 << 20]]);
});
