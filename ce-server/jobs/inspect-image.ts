/**
 * `inspect` of an image file through the disk engine's describe() (format detection from content,
 * differencing chains, problems), read-only.
 */
import { fileSourceSchema } from '../../core/sources.js';
import { defineJobType } from '../../core/job-type.js';
import { describeImage } from '../../disk/describe.js';

export interface InspectImageOptions {
  source: { kind: 'file'; path: string };
}

export interface InspectImageResult {
  path: string;
  format: string;
  virtualSize: number;
  fileSize: number;
  allocatedBytes?: number;
  subformat?: string;
  parentChain?: string[];
  problems?: Array<{ code: string; message: string; severity: string }>;
}

export const inspectImageJob = defineJobType<InspectImageOptions, InspectImageResult>({
  type: 'inspect',
  description: 'Report the format, virtual size and file size of an image file (read-only).',
  optionsSchema: {
    type: 'object',
    required: ['source'],
    properties: {
      source: fileSourceSchema,
    },
  },
  async run(ctx) {
    const path = ctx.options.source.path;
    ctx.step('inspect');
    const d = await describeImage(path);
    return {
      path,
      format: d.format,
      virtualSize: d.virtualSize,
      fileSize: d.fileSize,
      ...(d.allocatedBytes !== undefined ? { allocatedBytes: d.allocatedBytes } : {}),
      subformat: d.subformat,
      ...(d.parentChain ? { parentChain: d.parentChain } : {}),
      problems: d.problems,
    };
  },
});
