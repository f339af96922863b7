/** GET /v1/health: version, uptime, job counts, free space of the data dir, tool versions, event-loop load. */
import type { FastifyPluginAsync } from 'fastify';
import { statfs } from 'node:fs/promises';
import { execa } from 'execa';
import { VERSION } from '../../version.js';
import type { JobRunner } from '../../jobs/runner.js';
import type { ServiceConfig } from '../../config.js';
import { EventLoopMonitor } from '../event-loop.js';

// Tools the jobs call; hivexsh has no version flag, so `-h` only proves it is there.
const TOOLS: Array<[string, string[]]> = [
  ['qemu-img', ['--version']],
  ['ntfs-3g', ['--version']],
  ['hivexsh', ['-h']],
];

let toolVersions: Promise<Record<string, string | null>> | undefined;
function probeTools(): Promise<Record<string, string | null>> {
  toolVersions ??= Promise.all(
    TOOLS.map(async ([tool, args]) => {
      const r = await execa(tool, args, { reject: false, timeout: 5000 });
      const out = `${String(r.stdout)}\n${String(r.stderr)}`;
      const line = out.split('\n').find((l) => /\d+\.\d+/.test(l));
      const found = (r as { code?: string }).code !== 'ENOENT' && !/not found/i.test(out);
      return [tool, found ? (line?.trim() ?? 'present') : null] as const;
    }),
  ).then((entries) => Object.fromEntries(entries));
  return toolVersions;
}

export const healthRoutes: FastifyPluginAsync<{ runner: JobRunner; config: ServiceConfig }> = async (app, { runner, config }) => {
  const started = Date.now();
  void probeTools();
  const loop = new EventLoopMonitor();
  app.addHook('onClose', async () => loop.stop());
  app.get(
    '/v1/health',
    {
      schema: {
        summary: 'Service health',
        tags: ['service'],
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['ok'] },
              version: { type: 'string' },
              uptimeSeconds: { type: 'number' },
              jobs: { type: 'object', additionalProperties: { type: 'integer' } },
              dataDir: { type: 'object', properties: { freeBytes: { type: 'number' }, totalBytes: { type: 'number' } } },
              tools: { type: 'object', additionalProperties: { type: ['string', 'null'] } },
              eventLoop: {
                type: 'object',
                description: 'Event-loop utilization (0–1) and delay over the last complete window: high values mean job work is slowing the API.',
                properties: { windowSeconds: { type: 'number' }, utilization: { type: 'number' }, delayP99Ms: { type: 'number' }, delayMaxMs: { type: 'number' } },
              },
            },
          },
        },
      },
    },
    async () => {
      const fs = await statfs(config.dataDir);
      return {
        status: 'ok',
        version: VERSION,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
        jobs: runner.counts(),
        dataDir: { freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize },
        tools: await probeTools(),
        eventLoop: loop.stats(),
      };
    },
  );
};
