/**
 * `export`: the source disk (a block device attached to the CE, or an image file) goes to an SMB
 * share as VHD or VHDX, optionally hashed (HashDisk), the way the service's export job does.
 * Steps: open source → convert and deliver (streamed, `<name>.partial` then rename) → report.
 */
import { defineJobType } from '../../core/job-type.js';
import { convertToSmb } from '../../disk/convert/remote.js';
import { openDiskAt } from '../../disk/open-any.js';
import type { ConvertResult } from '../../disk/convert/engine.js';
import { localLocationSchema, smbKindSchema, smbTarget, type SmbLocation } from './locations.js';

export interface ExportOptions {
  source: { kind: 'file' | 'device'; path: string };
  target: { kind: 'smb'; smb: SmbLocation };
  /** SmbDiskFormat of the service: vhd (dynamic) or vhdx; or any writer name with a preset. */
  format?: 'vhd' | 'vhdx' | 'vhd-fixed' | 'vhdx-fixed';
  preset?: string;
  hashDisk?: boolean;
  verify?: boolean;
  overwrite?: boolean;
}

export interface ExportResult {
  output: ConvertResult['output'] & { location: string; md5?: string; sha256?: string };
  source: ConvertResult['source'];
  notes: string[];
  timings: Record<string, number>;
}

export const exportJob = defineJobType<ExportOptions, ExportResult | { dryRun: true; plan: Record<string, unknown> }>({
  type: 'export',
  thread: import.meta.url,
  // After a CE restart the delivery starts again from the beginning (the stale .partial is replaced).
  resumable: true,
  description: 'Export a disk (block device or image file) to an SMB share as VHD or VHDX, with optional hash and read-back verify.',
  optionsSchema: {
    type: 'object',
    required: ['source', 'target'],
    properties: {
      source: localLocationSchema,
      target: smbKindSchema,
      format: { enum: ['vhd', 'vhdx', 'vhd-fixed', 'vhdx-fixed'], default: 'vhdx' },
      preset: { type: 'string' },
      hashDisk: { type: 'boolean', default: false },
      verify: { type: 'boolean', default: false },
      overwrite: { type: 'boolean', default: false },
    },
  },
  async run(ctx) {
    const o = ctx.options;
    const { url, smb } = smbTarget(o.target.smb);
    const timings: Record<string, number> = {};
    const t0 = performance.now();
    ctx.step('open source');
    const disk = await openDiskAt(o.source.path);
    const facts = disk.describe();
    await disk.close();
    timings['open source'] = (performance.now() - t0) / 1000;
    ctx.log.info({ source: o.source.path, format: facts.format, virtualSize: facts.virtualSize, target: url }, 'export planned');
    if (ctx.dryRun) {
      return { dryRun: true, plan: { source: { path: o.source.path, format: facts.format, virtualSize: facts.virtualSize }, target: url, format: o.format ?? 'vhdx', hash: Boolean(o.hashDisk), wouldWrite: `${url}.partial, renamed to ${url}` } };
    }
    ctx.step('convert and deliver');
    const t1 = performance.now();
    const r = await convertToSmb(o.source.path, url, {
      to: o.preset && !o.format ? undefined : (o.format ?? 'vhdx'),
      preset: o.preset,
      hash: o.hashDisk ? ['md5', 'sha256'] : undefined,
      overwrite: o.overwrite,
      verify: o.verify,
      smb,
      signal: ctx.signal,
      onProgress: (p) => ctx.progress(p),
    });
    timings['convert and deliver'] = (performance.now() - t1) / 1000;
    ctx.log.info({ output: r.output.path, fileSize: r.output.fileSize, seconds: r.seconds }, 'exported');
    return {
      source: r.source,
      output: { ...r.output, location: url, md5: r.hashes?.md5, sha256: r.hashes?.sha256 },
      notes: r.notes,
      timings,
    };
  },
});
