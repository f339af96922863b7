/** The job record: what the store keeps and GET /v1/jobs/:id returns (secrets redacted). */
import type { Progress } from '../../core/progress.js';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);

export interface JobError {
  code: string;
  message: string;
  hint?: string;
  details?: unknown;
}

export interface StepTiming {
  name: string;
  startedAt: string;
  finishedAt?: string;
  seconds?: number;
}

export interface JobRecord {
  id: string;
  type: string;
  state: JobState;
  dryRun: boolean;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  step?: string;
  steps: StepTiming[];
  progress?: Progress;
  /** The submitted body without `type`/`dryRun`, secrets redacted. */
  options: Record<string, unknown>;
  result?: unknown;
  error?: JobError;
  idempotencyKey?: string;
  /** SHA-256 of the canonical request body, to tell a retry from a conflicting reuse of the key. */
  requestHash?: string;
  /** Resume state of resumable job types (last committed step/block). */
  checkpoint?: Record<string, unknown>;
  /** How many times the job was started (a resumed job counts again). */
  attempts: number;
}
