/** JSON schemas shared by the routes; they also generate the OpenAPI document (@fastify/swagger). */
import type { JobType } from '../../core/job-type.js';
import { JOB_STATES } from '../jobs/model.js';

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', description: 'stable machine-readable code, e.g. VALIDATION_FAILED, JOB_NOT_FOUND, VHD_FOOTER_CHECKSUM' },
    message: { type: 'string' },
    hint: { type: 'string', description: 'what to do about it' },
    details: {},
  },
} as const;

export const progressSchema = {
  $id: 'Progress',
  type: 'object',
  properties: {
    step: { type: 'string' },
    bytesDone: { type: 'number' },
    bytesTotal: { type: 'number' },
    rate: { type: 'number', description: 'bytes per second' },
    etaSeconds: { type: 'number' },
  },
} as const;

export const jobSchema = {
  $id: 'Job',
  type: 'object',
  required: ['id', 'type', 'state', 'createdAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    type: { type: 'string' },
    state: { type: 'string', enum: [...JOB_STATES] },
    dryRun: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    step: { type: 'string' },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, startedAt: { type: 'string' }, finishedAt: { type: 'string' }, seconds: { type: 'number' } },
      },
    },
    progress: { $ref: 'Progress#' },
    options: { type: 'object', additionalProperties: true, description: 'the submitted options, secrets redacted' },
    result: { description: 'the job type\'s result: change report, output, hashes, timings' },
    error: { $ref: 'Error#' },
    attempts: { type: 'integer' },
    links: {
      type: 'object',
      properties: { self: { type: 'string' }, events: { type: 'string' }, cancel: { type: 'string' }, log: { type: 'string' } },
    },
  },
} as const;

/** The POST /v1/jobs body: `type` selects which job type's options schema applies. */
export function submitSchema(types: JobType<any, any>[]): Record<string, unknown> {
  return {
    type: 'object',
    required: ['type'],
    properties: {
      type: { type: 'string', enum: types.map((t) => t.type), description: types.map((t) => `${t.type}: ${t.description}`).join(' | ') },
      dryRun: { type: 'boolean', default: false, description: 'report what would change and write nothing' },
    },
    allOf: types.map((t) => ({
      if: { properties: { type: { const: t.type } }, required: ['type'] },
      then: t.optionsSchema,
    })),
  };
}
