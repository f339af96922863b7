/**
 * /v1/jobs: submit (Idempotency-Key), list, get, cancel, the event stream (server-sent events)
 * and the job's log. Secrets never leave: records hold redacted options and results.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { JobType } from '../../../core/job-type.js';
import { FINAL_STATES, JOB_STATES, type JobRecord } from '../../jobs/model.js';
import { jobNotFound, summary, type JobEvent, type JobRunner } from '../../jobs/runner.js';
import type { JobLogRouter } from '../../jobs/job-log.js';
import { submitSchema } from '../schemas.js';

interface Opts {
  runner: JobRunner;
  jobTypes: JobType<any, any>[];
  jobLogs: JobLogRouter;
}

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
const errors = { 400: { $ref: 'Error#' }, 401: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' } };

function view(j: JobRecord): JobRecord & { links: Record<string, string> } {
  const { requestHash: _h, idempotencyKey: _k, checkpoint: _c, ...rest } = j;
  const base = `/v1/jobs/${j.id}`;
  return { ...(rest as JobRecord), links: { self: base, events: `${base}/events`, cancel: `${base}/cancel`, log: `${base}/log` } };
}

export const jobRoutes: FastifyPluginAsync<Opts> = async (app, { runner, jobTypes, jobLogs }) => {
  const openStreams = new Set<() => void>();
  app.addHook('onClose', async () => {
    for (const end of openStreams) end();
  });

  app.post<{ Body: Record<string, unknown>; Headers: { 'idempotency-key'?: string } }>(
    '/v1/jobs',
    {
      schema: {
        summary: 'Submit a job',
        tags: ['jobs'],
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 200, description: 'same key + same body = the same job, never a second run' } },
        },
        body: submitSchema(jobTypes),
        response: { 202: { $ref: 'Job#' }, 200: { $ref: 'Job#' }, ...errors },
      },
    },
    async (req, reply) => {
      const { type, dryRun, ...options } = req.body as { type: string; dryRun?: boolean };
      const { job, reused } = await runner.submit({ type, dryRun, options, idempotencyKey: req.headers['idempotency-key'] });
      reply.header('location', `/v1/jobs/${job.id}`);
      return reply.status(reused ? 200 : 202).send(view(job));
    },
  );

  app.get<{ Querystring: { state?: string; type?: string } }>(
    '/v1/jobs',
    {
      schema: {
        summary: 'List jobs',
        tags: ['jobs'],
        querystring: { type: 'object', properties: { state: { type: 'string', enum: [...JOB_STATES] }, type: { type: 'string' } } },
        response: { 200: { type: 'object', properties: { jobs: { type: 'array', items: { $ref: 'Job#' } } } } },
      },
    },
    async (req) => ({ jobs: runner.list(req.query as { state?: JobRecord['state']; type?: string }).map(view) }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    { schema: { summary: 'Get a job: state, step, progress, result or error', tags: ['jobs'], params: idParams, response: { 200: { $ref: 'Job#' }, ...errors } } },
    async (req) => {
      const job = runner.get(req.params.id);
      if (!job) throw jobNotFound(req.params.id);
      return view(job);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/jobs/:id/cancel',
    {
      schema: {
        summary: 'Cancel a job: it stops at the next safe point and leaves no half-written output',
        tags: ['jobs'],
        params: idParams,
        response: { 200: { $ref: 'Job#' }, ...errors },
      },
    },
    async (req) => view(await runner.cancel(req.params.id)),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/log',
    {
      schema: {
        summary: 'The job\'s log as JSON lines (secrets redacted)',
        tags: ['jobs'],
        params: idParams,
        produces: ['application/x-ndjson'],
        response: { 200: { type: 'string' }, ...errors },
      },
    },
    async (req, reply) => {
      if (!runner.get(req.params.id)) throw jobNotFound(req.params.id);
      return reply.type('application/x-ndjson').send(await jobLogs.read(req.params.id));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/events',
    {
      schema: {
        summary: 'Server-sent events: state, step, progress and log lines until the job ends',
        tags: ['jobs'],
        params: idParams,
        produces: ['text/event-stream'],
        response: { 200: { type: 'string', description: 'event: state|step|progress|log; data: JSON' }, ...errors },
      },
    },
    async (req, reply) => {
      const job = runner.get(req.params.id);
      if (!job) throw jobNotFound(req.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      let seq = 0;
      const send = (e: JobEvent) => res.write(`id: ${++seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
      send({ type: 'state', data: summary(job) });
      if (FINAL_STATES.has(job.state)) {
        res.end();
        return;
      }
      const channel = `job:${job.id}`;
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      const end = () => {
        clearInterval(heartbeat);
        runner.events.off(channel, onEvent);
        openStreams.delete(end);
        if (!res.writableEnded) res.end();
      };
      const onEvent = (e: JobEvent) => {
        send(e);
        if (e.type === 'state' && FINAL_STATES.has((e.data as { state: JobRecord['state'] }).state)) end();
      };
      runner.events.on(channel, onEvent);
      openStreams.add(end);
      req.raw.on('close', end);
    },
  );
};
