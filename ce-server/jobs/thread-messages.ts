/** The messages between the job runner and a job running in a worker thread (job-thread.ts). */
import type { MessagePort } from 'node:worker_threads';
import type { Progress } from '../../core/progress.js';

export interface ThreadStart {
  /** URL of the module that exports the job type. */
  module: string;
  jobType: string;
  jobId: string;
  options: Record<string, unknown>;
  dryRun: boolean;
  workDir: string;
  checkpoint?: Record<string, unknown>;
  logLevel: string;
  /** Where the thread sends lseek(SEEK_DATA/SEEK_HOLE) requests (core/seek-data.ts). */
  seekPort?: MessagePort;
}

export interface WireError {
  code: string;
  message: string;
  status: number;
  hint?: string;
  details?: unknown;
  /** For the service log only (never sent to API clients). */
  stack?: string;
}

export type FromThread =
  | { t: 'progress'; p: Progress }
  | { t: 'step'; name: string }
  | { t: 'log'; line: string }
  | { t: 'checkpoint'; id: number; state: Record<string, unknown> }
  | { t: 'done'; result: unknown }
  | { t: 'fail'; error: WireError };

export type ToThread = { t: 'abort'; reason: WireError } | { t: 'checkpoint-saved'; id: number; error?: WireError };
