/**
 * `publish`: an image on an SMB share becomes the target disk for the platform: a local image
 * file (shaped by a preset: Azure fixed VHD, vSphere streamOptimized VMDK, …) or a block device
 * (raw), or a VHDX into a PVS store path on a share.
 */
import { defineJobType } from '../../core/job-type.js';
import { convertAny } from '../../disk/convert/remote.js';
import { openDiskAt } from '../../disk/open-any.js';
import type { ConvertResult } from '../../disk/convert/engine.js';
import { presets } from '../../disk/presets.js';
import { targets } from '../../disk/formats.js';
import { CeError } from '../../core/errors.js';
import { localLocationSchema, smbKindSchema, smbTarget, type Location, type SmbLocation } from './locations.js';

export interface PublishOptions {
  source: { kind: 'smb'; smb: SmbLocation };
  target: Location;
  format?: string;
  preset?: string;
  hashDisk?: boolean;
  overwrite?: boolean;
}

export const publishJob = defineJobType<PublishOptions, (ConvertResult & { timings: Record<string, number> }) | { dryRun: true; plan: Record<string, unknown> }>({
  type: 'publish',
  thread: import.meta.url,
  // After a CE restart the delivery starts again from the beginning (the stale .partial is replaced).
  resumable: true,
  description: 'Publish an image from an SMB share to a target disk or file in the platform\'s format (preset), or as VHDX into a PVS store on a share.',
  optionsSchema: {
    type: 'object',
    required: ['source', 'target'],
    properties: {
      source: smbKindSchema,
      target: { oneOf: [localLocationSchema, smbKindSchema] },
      format: { type: 'string', enum: targets() },
      preset: { type: 'string', enum: presets.map((p) => p.name) },
      hashDisk: { type: 'boolean', default: false },
      overwrite: { type: 'boolean', default: false },
    },
  },
  validate(o) {
    if (!o.format && !o.preset) throw new CeError('PUBLISH_FORMAT_MISSING', 'Give `format` or `preset` for the target.', { status: 400 });
    if (o.target.kind === 'device' && (o.format ?? 'raw') !== 'raw') {
      throw new CeError('PUBLISH_DEVICE_RAW_ONLY', 'A block device target takes the raw disk.', { hint: 'Use format "raw" for a device target.', status: 400 });
    }
  },
  async run(ctx) {
    const o = ctx.options;
    const src = smbTarget(o.source.smb);
    const dst = o.target.kind === 'smb' ? smbTarget(o.target.smb) : undefined;
    const dstPath = dst ? dst.url : (o.target as { path: string }).path;
    const timings: Record<string, number> = {};
    let t = performance.now();
    ctx.step('open source');
    const disk = await openDiskAt(src.url, { smb: src.smb });
    const facts = disk.describe();
    await disk.close();
    timings['open source'] = (performance.now() - t) / 1000;
    if (ctx.dryRun) return { dryRun: true, plan: { source: { url: src.url, format: facts.format, virtualSize: facts.virtualSize }, target: dstPath, format: o.format, preset: o.preset } };
    ctx.step('convert and deliver');
    t = performance.now();
    // SMB → SMB (PVS store) uses the target's credential for writing; the source's for reading.
    const r = await convertAny(src.url, dstPath, {
      to: o.format,
      preset: o.preset,
      hash: o.hashDisk ? ['md5', 'sha256'] : undefined,
      overwrite: o.overwrite || o.target.kind === 'device',
      smb: dst?.smb ?? src.smb,
      smbSource: src.smb,
      signal: ctx.signal,
      onProgress: (p) => ctx.progress(p),
    });
    timings['convert and deliver'] = (performance.now() - t) / 1000;
    return { ...r, timings };
  },
});
