/**
 * The contract between the server's job runner and the domain modules.
 * A domain module (disk/, vda/, pagefile/, network/) exports JobType objects; the server
 * registers them from one list (ce-server/jobs/job-types.ts) and never needs to know more.
 */
import type { Logger } from 'pino';
import type { Progress } from './progress.js';

/** A JSON schema object (draft-07 subset understood by fastify/ajv). */
export type JsonSchema = Record<string, unknown>;

/** What a job sees while it runs. */
export interface JobContext<Options = Record<string, unknown>> {
  jobId: string;
  /** The job's validated options (the request body minus `type`), secrets included (in memory only). */
  options: Options;
  /** Report what would change and write nothing. */
  dryRun: boolean;
  /** Aborted when the job is cancelled or the server shuts down: stop at the next safe point. */
  signal: AbortSignal;
  /** Report progress; the runner stores the latest value and streams it over SSE. */
  progress(p: Progress): void;
  /** Enter a named step (shown in GET /v1/jobs/:id and in the event stream). */
  step(name: string): void;
  /** A pino child logger with the job id bound; secrets are redacted. */
  log: Logger;
  /** A private scratch directory for this job, removed when the job ends. */
  workDir: string;
  /** State persisted across a restart for resumable jobs (last committed step/block). */
  checkpoint: {
    get(): Record<string, unknown> | undefined;
    save(state: Record<string, unknown>): Promise<void>;
  };
}

export interface JobType<Options = Record<string, unknown>, Result = unknown> {
  /** The `type` field of POST /v1/jobs. */
  type: string;
  /** One line for the OpenAPI document and `ce --help`. */
  description: string;
  /** JSON schema of the job body's other fields (everything but `type` and `dryRun`). */
  optionsSchema: JsonSchema;
  /**
   * For byte-heavy jobs: the URL of the module that exports this job type (`import.meta.url`).
   * The runner then runs the job in a worker thread, so the API's event loop never carries the
   * job's reading, hashing and sending and stays responsive however many jobs run.
   */
  thread?: string;
  /** Whether a job interrupted by a restart may be resumed from its checkpoint (else it is marked `interrupted`). */
  resumable?: boolean;
  /** Cross-field validation beyond the schema; throw CeError (status 400) on bad input. */
  validate?(options: Options): void;
  /** Do the work (or, with ctx.dryRun, only report what would be done). Throw CeError on failure. */
  run(ctx: JobContext<Options>): Promise<Result>;
}

/** Helper that keeps the generic parameters when a module declares a job type. */
export function defineJobType<O, R>(def: JobType<O, R>): JobType<O, R> {
  return def;
}
