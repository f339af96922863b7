/**
 * The `prepare` job with VDA components and the isolated first boot. It supersedes the offline-only
 * prepare of disk/windows/jobs.ts (same `source` and `prepare` fields, plus `vda`), so one job
 * type does offline edits → staging → isolated boot → offline cleanup → change report.
 */
import { localSourceSchema } from '../core/sources.js';
import { defineJobType } from '../core/job-type.js';
import { prepareOptionsSchema } from '../disk/windows/prepare.js';
import { prepareImage, validateFullPrepareOptions, type FullPrepareResult, type VdaPrepareOptions } from './prepare.js';
import type { PrepareOptions } from '../disk/windows/prepare.js';

const xdParam = {
  type: 'object',
  required: ['parameterName'],
  additionalProperties: false,
  properties: { parameterName: { type: 'string', minLength: 1, maxLength: 64 }, parameterValue: { type: ['string', 'number'] } },
} as const;

export const vdaOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    components: {
      type: 'object',
      additionalProperties: false,
      properties: {
        provisioningType: { enum: ['Mcs', 'Pvs'] },
        installMisa: { type: 'boolean' },
        uninstallMisa: { type: 'boolean' },
        installMcsio: { type: 'boolean' },
        installPvs: { type: 'string', minLength: 1, maxLength: 32 },
        xdReconfigure: { type: 'array', maxItems: 64, items: xdParam },
      },
    },
    componentSource: {
      oneOf: [
        {
          type: 'object',
          required: ['kind', 'path'],
          additionalProperties: false,
          properties: { kind: { const: 'local' }, path: { type: 'string', minLength: 1 } },
        },
        {
          type: 'object',
          required: ['kind', 'url'],
          additionalProperties: false,
          properties: {
            kind: { const: 'smb' },
            url: { type: 'string', pattern: '^smb://' },
            credential: {
              type: 'object',
              required: ['user', 'password'],
              additionalProperties: false,
              properties: { user: { type: 'string' }, password: { type: 'string' }, domain: { type: 'string' } },
            },
          },
        },
      ],
    },
    firstBoot: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { enum: ['boot', 'stage'] },
        timeoutSeconds: { type: 'integer', minimum: 60, maximum: 21600 },
        network: { enum: ['none', 'isolated'] },
        memoryMiB: { type: 'integer', minimum: 1024, maximum: 65536 },
        cpus: { type: 'integer', minimum: 1, maximum: 16 },
      },
    },
  },
} as const;

export interface PrepareVdaJobOptions {
  source: { kind: 'file' | 'device'; path: string };
  prepare?: PrepareOptions;
  vda?: VdaPrepareOptions;
}

export const prepareVdaJob = defineJobType<PrepareVdaJobOptions, FullPrepareResult>({
  type: 'prepare',
  description: 'Prepare a Windows image for its platform: offline edits (pagefile, domain, Fast Startup, VDA registry), component staging, one isolated first boot (VDA reconfigure, MISA, MCSIO, PVS, online unjoin), offline cleanup; dryRun returns the whole plan.',
  optionsSchema: {
    type: 'object',
    required: ['source'],
    properties: {
      source: localSourceSchema,
      prepare: prepareOptionsSchema,
      vda: vdaOptionsSchema,
    },
  },
  validate(o) {
    validateFullPrepareOptions({ prepare: o.prepare, vda: o.vda });
  },
  async run(ctx) {
    return prepareImage(ctx.options.source.path, { prepare: ctx.options.prepare, vda: ctx.options.vda }, {
      dryRun: ctx.dryRun,
      signal: ctx.signal,
      workDir: ctx.workDir,
      onStep: (s) => ctx.step(s),
      onProgress: (p) => ctx.progress(p),
      log: ctx.log,
    });
  },
});
