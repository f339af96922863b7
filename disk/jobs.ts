/**
 * The `convert` job type: POST /v1/jobs {type:"convert", source:{kind:"file",path}, destination:{path}, to|preset, …}.
 * Progress through ctx.progress, cancellation through ctx.signal. Resumable: after a restart the
 * runner calls run() again with the checkpoint set, and the conversion continues from the state
 * file beside the partial output.
 */
import { fileSourceSchema } from '../core/sources.js';
import { defineJobType } from '../core/job-type.js';
import { CeError } from '../core/errors.js';
import { convert, type ConvertResult } from './convert/engine.js';
import type { HashAlgo } from './convert/hash-sink.js';
import { targets } from './formats.js';
import { presets } from './presets.js';

export interface ConvertJobOptions {
  source: { kind: 'file'; path: string };
  destination: { path: string };
  to?: string;
  preset?: string;
  hash?: HashAlgo[];
  overwrite?: boolean;
}

export const convertJob = defineJobType<ConvertJobOptions, ConvertResult | { dryRun: true; to?: string; preset?: string }>({
  type: 'convert',
  thread: import.meta.url,
  description: 'Convert a disk image to another format (raw, VHD, VHDX, VMDK, qcow2), optionally for a platform preset, with hashes.',
  resumable: true,
  optionsSchema: {
    type: 'object',
    required: ['source', 'destination'],
    properties: {
      source: fileSourceSchema,
      destination: { type: 'object', required: ['path'], additionalProperties: false, properties: { path: { type: 'string', minLength: 1 } } },
      to: { type: 'string', enum: targets() },
      preset: { type: 'string', enum: presets.map((p) => p.name) },
      hash: { type: 'array', items: { type: 'string', enum: ['md5', 'sha256'] }, uniqueItems: true },
      overwrite: { type: 'boolean' },
    },
  },
  validate(o) {
    if (!o.to && !o.preset) throw new CeError('DISK_TARGET_MISSING', 'Give `to` or `preset`.', { status: 400 });
  },
  async run(ctx) {
    const o = ctx.options;
    if (ctx.dryRun) return { dryRun: true, to: o.to, preset: o.preset };
    const resume = ctx.checkpoint.get()?.started === true;
    await ctx.checkpoint.save({ started: true });
    ctx.step(resume ? 'convert (resumed)' : 'convert');
    const r = await convert(o.source.path, o.destination.path, {
      to: o.to,
      preset: o.preset,
      hash: o.hash,
      overwrite: o.overwrite,
      resume,
      // Checkpoints from the first run: a restart of the service continues from the last one.
      checkpoints: true,
      signal: ctx.signal,
      onProgress: (p) => ctx.progress(p),
    });
    ctx.log.info({ output: r.output, seconds: r.seconds }, 'converted');
    return r;
  },
});
