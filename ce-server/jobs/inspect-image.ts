/**
 * `inspect` of an image file through qemu-img's JSON (format, virtual size, file size).
 * Replaced by the disk engine's own probe once disk/ offers it.
 */
import { stat } from 'node:fs/promises';
import { defineJobType } from '../../core/job-type.js';
import { CeError } from '../../core/errors.js';
import { runTool } from '../../core/tools.js';

export interface InspectImageOptions {
  source: { kind: 'file'; path: string };
}

export interface InspectImageResult {
  path: string;
  format: string;
  virtualSize: number;
  fileSize: number;
  allocatedBytes?: number;
}

export const inspectImageJob = defineJobType<InspectImageOptions, InspectImageResult>({
  type: 'inspect',
  description: 'Report the format, virtual size and file size of an image file (read-only).',
  optionsSchema: {
    type: 'object',
    required: ['source'],
    properties: {
      source: {
        type: 'object',
        required: ['kind', 'path'],
        additionalProperties: false,
        properties: { kind: { const: 'file' }, path: { type: 'string', minLength: 1 } },
      },
    },
  },
  async run(ctx) {
    const path = ctx.options.source.path;
    ctx.step('inspect');
    const st = await stat(path).catch(() => {
      throw new CeError('SOURCE_NOT_FOUND', `The source ${path} does not exist on the CE.`, { hint: 'Check the path.', status: 404 });
    });
    const r = await runTool('qemu-img', ['info', '--output=json', '-U', path], { failCode: 'IMAGE_UNREADABLE', cancelSignal: ctx.signal });
    const info = JSON.parse(r.stdout) as { format: string; 'virtual-size': number; 'actual-size'?: number };
    return { path, format: info.format, virtualSize: info['virtual-size'], fileSize: st.size, allocatedBytes: info['actual-size'] };
  },
});
