/**
 * The job runner: a bounded queue (maxConcurrentJobs at once), cancellation through an
 * AbortSignal, step timings, progress, checkpoints for resumable job types, and recovery after
 * a restart (running jobs become `interrupted`, or are resumed when their type says it can).
 * Secrets live only in memory (the `secrets` map): the store keeps redacted options.
 */
import { EventEmitter } from 'node:events';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CeError, toCeError } from '../../core/errors.js';
import type { JobContext, JobType } from '../../core/job-type.js';
import type { Progress } from '../../core/progress.js';
import { REDACTED, redactSecrets } from '../../core/redact.js';
import { FINAL_STATES, type JobRecord, type JobState } from './model.js';
import type { JobStore } from './store.js';
import { runInThread } from './thread-host.js';
import type { SecretKeyring } from './secret-keyring.js';

/** A job that brought the CE down this often is not started again (it may be what crashes it). */
const MAX_ATTEMPTS = 3;

export interface JobEvent {
  type: 'state' | 'progress' | 'step' | 'log';
  data: unknown;
}

export interface SubmitRequest {
  type: string;
  dryRun?: boolean;
  options: Record<string, unknown>;
  idempotencyKey?: string;
}

interface Running {
  ac: AbortController;
  reason?: 'cancel' | 'shutdown';
  done: Promise<void>;
}

export class JobRunner {
  /** `job:<id>` events (JobEvent) for the SSE stream; shared with the JobLogRouter for log lines. */
  readonly events: EventEmitter;
  private queue: string[] = [];
  private running = new Map<string, Running>();
  private secrets = new Map<string, Record<string, unknown>>();
  private stopping = false;

  constructor(
    private readonly store: JobStore,
    private readonly types: Map<string, JobType<any, any>>,
    private readonly log: Logger,
    private readonly opts: { workDir: string; maxConcurrent: number; events?: EventEmitter; threads?: boolean; keyring?: SecretKeyring },
  ) {
    this.events = opts.events ?? new EventEmitter();
    this.events.setMaxListeners(0);
  }

  /** After a restart: decide the fate of every job that had not ended. */
  async recover(): Promise<void> {
    for (const job of this.store.list()) {
      if (FINAL_STATES.has(job.state)) continue;
      const type = this.types.get(job.type);
      const needsSecrets = holdsSecrets(job.options);
      const kept = needsSecrets ? await this.opts.keyring?.recall(job.id) : undefined;
      const secretsLost = needsSecrets && !kept;
      const canResume = job.state === 'queued' || (job.state === 'running' && type?.resumable && job.attempts < MAX_ATTEMPTS);
      if (type && canResume && !secretsLost) {
        if (kept) this.secrets.set(job.id, kept);
        this.log.info({ jobId: job.id, was: job.state, credentialsFromKeyring: Boolean(kept) }, 'job re-queued after restart');
        await this.update(job, { state: 'queued' });
        this.queue.push(job.id);
      } else {
        const error = secretsLost
          ? { code: 'JOB_SECRETS_LOST', message: 'The CE restarted; the job\'s credentials were held only in memory.', hint: 'Submit the job again (install keyutils so that credentials survive a CE restart in the kernel keyring).' }
          : job.attempts >= MAX_ATTEMPTS && type?.resumable
            ? { code: 'JOB_INTERRUPTED', message: `The CE stopped ${job.attempts} times while running this job; it is not started again.`, hint: 'See the service log of the earlier attempts; submit the job again once the cause is fixed.' }
            : { code: 'JOB_INTERRUPTED', message: `The CE restarted while the job was ${job.state}.`, hint: 'Submit the job again; nothing was left half-written under a final name.' };
        this.log.warn({ jobId: job.id, was: job.state }, 'job interrupted by a restart');
        await this.update(job, { state: 'interrupted', error, finishedAt: new Date().toISOString() });
        await this.opts.keyring?.forget(job.id);
      }
    }
    this.pump();
  }

  async submit(req: SubmitRequest): Promise<{ job: JobRecord; reused: boolean }> {
    const type = this.types.get(req.type);
    if (!type) {
      throw new CeError('JOB_TYPE_UNKNOWN', `Unknown job type ${req.type}.`, { status: 400, hint: `Known types: ${[...this.types.keys()].join(', ')}.` });
    }
    const requestHash = hashRequest(req);
    if (req.idempotencyKey) {
      const prior = this.store.getByIdempotencyKey(req.idempotencyKey);
      if (prior) {
        if (prior.requestHash === requestHash) return { job: prior, reused: true };
        throw new CeError('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used for a different request.', {
          status: 409,
          hint: 'Use a new key for a new job; retry with the same body to get the same job.',
          details: { jobId: prior.id },
        });
      }
    }
    if (type.validate) {
      try {
        type.validate(req.options);
      } catch (e) {
        const err = toCeError(e);
        throw new CeError(err.code, err.message, { status: 400, hint: err.hint, details: err.details });
      }
    }
    const job: JobRecord = {
      id: randomUUID(),
      type: req.type,
      state: 'queued',
      dryRun: Boolean(req.dryRun),
      createdAt: new Date().toISOString(),
      steps: [],
      options: redactSecrets(req.options),
      idempotencyKey: req.idempotencyKey,
      requestHash,
      attempts: 0,
    };
    this.secrets.set(job.id, req.options);
    // Credentials survive a crash of the CE in the kernel keyring (never on disk), so the job can resume.
    if (holdsSecrets(job.options)) await this.opts.keyring?.keep(job.id, req.options);
    await this.store.put(job);
    this.log.info({ jobId: job.id, type: job.type, dryRun: job.dryRun }, 'job queued');
    this.queue.push(job.id);
    this.pump();
    return { job, reused: false };
  }

  get(id: string): JobRecord | undefined {
    return this.store.get(id);
  }

  list(filter: { state?: JobState; type?: string } = {}): JobRecord[] {
    return this.store.list(filter);
  }

  async cancel(id: string): Promise<JobRecord> {
    const job = this.store.get(id);
    if (!job) throw notFound(id);
    if (FINAL_STATES.has(job.state)) return job;
    const r = this.running.get(id);
    if (r) {
      r.reason = 'cancel';
      r.ac.abort(new CeError('CANCELLED', 'The job was cancelled.'));
      this.log.info({ jobId: id }, 'cancel requested');
      await r.done;
      return this.store.get(id)!;
    }
    this.queue = this.queue.filter((q) => q !== id);
    this.secrets.delete(id);
    await this.opts.keyring?.forget(id);
    return this.update(job, { state: 'cancelled', finishedAt: new Date().toISOString() });
  }

  /** Stop taking jobs; abort running ones (they become `interrupted`, or resume after restart if resumable). */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const r of this.running.values()) {
      r.reason = 'shutdown';
      r.ac.abort(new CeError('CE_SHUTDOWN', 'The CE is shutting down.'));
    }
    await Promise.race([Promise.all([...this.running.values()].map((r) => r.done)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  counts(): Record<JobState, number> {
    const c = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, interrupted: 0 };
    for (const j of this.store.list()) c[j.state]++;
    return c;
  }

  private pump(): void {
    while (!this.stopping && this.running.size < this.opts.maxConcurrent && this.queue.length) {
      const id = this.queue.shift()!;
      const job = this.store.get(id);
      if (!job || job.state !== 'queued') continue;
      const ac = new AbortController();
      const entry: Running = { ac, done: Promise.resolve() };
      this.running.set(id, entry);
      entry.done = this.execute(job, entry).finally(() => {
        this.running.delete(id);
        this.pump();
      });
    }
  }

  private async execute(job: JobRecord, entry: Running): Promise<void> {
    const type = this.types.get(job.type)!;
    const log = this.log.child({ jobId: job.id, jobType: job.type });
    const workDir = join(this.opts.workDir, job.id);
    let current = await this.update(job, { state: 'running', startedAt: new Date().toISOString(), attempts: job.attempts + 1, error: undefined });
    const emit = (e: JobEvent) => this.events.emit(`job:${job.id}`, e);
    const ctx: JobContext = {
      jobId: job.id,
      options: this.secrets.get(job.id) ?? job.options,
      dryRun: job.dryRun,
      signal: entry.ac.signal,
      log,
      workDir,
      progress: (p: Progress) => {
        current = { ...current, progress: { ...p, step: p.step ?? current.step } };
        this.store.putVolatile(current);
        emit({ type: 'progress', data: current.progress });
      },
      step: (name: string) => {
        const now = new Date();
        const steps = closeStep(current.steps, now);
        steps.push({ name, startedAt: now.toISOString() });
        log.info({ step: name }, 'step');
        current = { ...current, step: name, steps };
        void this.store.put(current);
        emit({ type: 'step', data: { step: name } });
      },
      checkpoint: {
        get: () => current.checkpoint,
        save: async (state) => {
          current = { ...current, checkpoint: state };
          await this.store.put(current);
        },
      },
    };
    emit({ type: 'state', data: summary(current) });
    log.info({ attempt: current.attempts }, 'job started');
    let patch: Partial<JobRecord>;
    try {
      await mkdir(workDir, { recursive: true });
      const result = type.thread && this.opts.threads !== false ? await runInThread(type, ctx, this.log.level) : await type.run(ctx);
      if (entry.ac.signal.aborted) throw entry.ac.signal.reason;
      patch = { state: 'succeeded', result: redactSecrets(result) };
      log.info('job succeeded');
    } catch (e) {
      const err = toCeError(e);
      if (entry.reason === 'cancel') {
        patch = { state: 'cancelled', error: { code: 'CANCELLED', message: 'The job was cancelled.' } };
        log.info('job cancelled');
      } else if (entry.reason === 'shutdown') {
        // Left as `running` in the store on purpose: recover() decides after the restart (resume or interrupted).
        log.warn('job stopped by shutdown');
        await rm(workDir, { recursive: true, force: true });
        return;
      } else {
        patch = { state: 'failed', error: redactSecrets(err.toJSON()) };
        log.error({ code: err.code, err: err.cause ?? err }, 'job failed');
      }
    }
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    const now = new Date();
    this.secrets.delete(job.id);
    await this.opts.keyring?.forget(job.id);
    current = await this.update(current, { ...patch, steps: closeStep(current.steps, now), finishedAt: now.toISOString() });
    emit({ type: 'state', data: summary(current) });
  }

  private async update(job: JobRecord, patch: Partial<JobRecord>): Promise<JobRecord> {
    const latest = this.store.get(job.id) ?? job;
    const next = { ...latest, ...job, ...patch };
    await this.store.put(next);
    return next;
  }
}

/** Whether the stored (redacted) options had secrets taken out: the job needs them from memory or the keyring. */
function holdsSecrets(storedOptions: Record<string, unknown>): boolean {
  return JSON.stringify(storedOptions).includes(`"${REDACTED}"`);
}

function closeStep(steps: JobRecord['steps'], now: Date): JobRecord['steps'] {
  const out = steps.map((s) => ({ ...s }));
  const last = out[out.length - 1];
  if (last && !last.finishedAt) {
    last.finishedAt = now.toISOString();
    last.seconds = (now.getTime() - Date.parse(last.startedAt)) / 1000;
  }
  return out;
}

export function summary(j: JobRecord): Record<string, unknown> {
  return { id: j.id, type: j.type, state: j.state, step: j.step, progress: j.progress, error: j.error };
}

function notFound(id: string): CeError {
  return new CeError('JOB_NOT_FOUND', `No job ${id}.`, { status: 404 });
}

export { notFound as jobNotFound };

function hashRequest(req: SubmitRequest): string {
  return createHash('sha256').update(canonicalJson({ type: req.type, dryRun: Boolean(req.dryRun), options: req.options })).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  return `{${Object.keys(v as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}
