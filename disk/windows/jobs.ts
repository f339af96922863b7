/**
 * Job types for the server: `inspect-windows` (read-only inspection) and `prepare` (the offline
 * prepare edits; `dryRun` returns the plan). The plain `inspect` job (format/size) lives in
 * ce-server/jobs/inspect-image.ts.
 */
import { localSourceSchema } from '../../core/sources.js';
import { defineJobType } from '../../core/job-type.js';
import { inspectTarget, type WindowsInspection } from './inspect.js';
import { prepareOptionsSchema, prepareWindows, validatePrepareOptions, type PrepareOptions, type PrepareResult } from './prepare.js';

const sourceSchema = localSourceSchema;

export interface InspectWindowsOptions {
  source: { kind: 'file' | 'device'; path: string };
  allowUnsafe?: boolean;
}

export const inspectWindowsJob = defineJobType<InspectWindowsOptions, WindowsInspection>({
  type: 'inspect-windows',
  description: 'Inspect the Windows installation on an image or device (read-only): product, build, domain, pagefile, drive letters, Citrix components, boot mode.',
  optionsSchema: {
    type: 'object',
    required: ['source'],
    properties: { source: sourceSchema, allowUnsafe: { type: 'boolean' } },
  },
  async run(ctx) {
    ctx.step('inspect');
    return inspectTarget(ctx.options.source.path, { allowUnsafe: ctx.options.allowUnsafe, workDir: ctx.workDir, signal: ctx.signal });
  },
});

export interface PrepareJobOptions {
  source: { kind: 'file' | 'device'; path: string };
  prepare?: PrepareOptions;
}

export const prepareJob = defineJobType<PrepareJobOptions, PrepareResult>({
  type: 'prepare',
  description: 'Prepare a Windows image offline for its platform (pagefile by SKU, domain unjoin, Fast Startup off); dryRun returns the plan.',
  optionsSchema: {
    type: 'object',
    required: ['source'],
    properties: { source: sourceSchema, prepare: prepareOptionsSchema },
  },
  validate(o) {
    validatePrepareOptions(o.prepare ?? {});
  },
  async run(ctx) {
    return prepareWindows(ctx.options.source.path, ctx.options.prepare ?? {}, {
      dryRun: ctx.dryRun,
      signal: ctx.signal,
      workDir: ctx.workDir,
      onStep: (s) => ctx.step(s),
    });
  },
});
