/**
 * The HTTPS service: fastify 5 with mutual TLS. A request without a client certificate issued by
 * the configured CA fails the TLS handshake; one that does not match a pinned fingerprint gets 401
 * before any route runs. Routes have JSON schemas (validation + the OpenAPI document).
 */
import Fastify, { type FastifyInstance, type FastifyError, type FastifyBaseLogger } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import swagger from '@fastify/swagger';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CeError, toCeError } from '../../core/errors.js';
import type { JobType } from '../../core/job-type.js';
import { normalizeFingerprint, type ServiceConfig } from '../config.js';
import { JobStore } from '../jobs/store.js';
import { JobRunner } from '../jobs/runner.js';
import { JobLogRouter } from '../jobs/job-log.js';
import { SecretKeyring } from '../jobs/secret-keyring.js';
import { VERSION } from '../version.js';
import { errorSchema, jobSchema, progressSchema } from './schemas.js';
import { jobRoutes } from './routes/jobs.js';
import { healthRoutes } from './routes/health.js';

export interface ServerTls {
  key: string;
  cert: string;
  /** CA(s) that issue client certificates. */
  clientCa: string;
}

export interface BuildOptions {
  config: ServiceConfig;
  tls: ServerTls;
  jobTypes: JobType<any, any>[];
  logger: Logger;
  /** The router that writes per-job logs; build it with the logger (see serve.ts). */
  jobLogs: JobLogRouter;
}

export interface CeServer {
  app: FastifyInstance<HttpsServer>;
  runner: JobRunner;
  store: JobStore;
  close(): Promise<void>;
}

export async function buildServer(opts: BuildOptions): Promise<CeServer> {
  const { config, tls, jobTypes, logger, jobLogs } = opts;
  const store = new JobStore(config.dataDir);
  await store.open();
  const runner = new JobRunner(store, new Map(jobTypes.map((t) => [t.type, t])), logger, {
    workDir: join(config.dataDir, 'work'),
    maxConcurrent: config.maxConcurrentJobs,
    threads: config.jobThreads,
    keyring: new SecretKeyring(logger, { enabled: config.keyring }),
    events: jobLogs.events,
  });

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    https: { key: tls.key, cert: tls.cert, ca: tls.clientCa, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    forceCloseConnections: true,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: false, useDefaults: true, allowUnionTypes: true } },
  });

  const pinned = new Set(config.clientFingerprints.map(normalizeFingerprint));
  app.addHook('onRequest', async (req) => {
    const sock = req.raw.socket as TLSSocket;
    // rejectUnauthorized already refuses the handshake; this is the belt to its braces.
    if (!sock.authorized) {
      throw new CeError('TLS_CLIENT_CERT_REQUIRED', 'A client certificate issued by the configured CA is required.', { status: 401 });
    }
    if (pinned.size) {
      const fp = normalizeFingerprint(sock.getPeerCertificate().fingerprint256 ?? '');
      if (!pinned.has(fp)) {
        throw new CeError('TLS_CLIENT_CERT_NOT_PINNED', 'The client certificate is not one of the pinned certificates.', {
          status: 401,
          hint: 'Add its SHA-256 fingerprint to --client-fingerprints.',
        });
      }
    }
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      return reply.status(400).send({
        code: 'VALIDATION_FAILED',
        message: `The request does not match the schema: ${err.message}`,
        hint: 'See GET /v1/openapi.json for the accepted fields.',
        details: err.validation.map((v) => ({ path: v.instancePath || '/', message: v.message, params: v.params })),
      });
    }
    if (!(err instanceof CeError) && err.statusCode && err.statusCode < 500) {
      return reply.status(err.statusCode).send({ code: err.code ?? 'BAD_REQUEST', message: err.message });
    }
    const ce = toCeError(err);
    if (ce.status >= 500) req.log.error({ err: ce.cause ?? ce, code: ce.code }, 'request failed');
    return reply.status(ce.status).send(ce.toJSON());
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ code: 'NOT_FOUND', message: `No route ${req.method} ${req.url}.`, hint: 'See GET /v1/openapi.json.' }));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Compositing Engine API', version: VERSION, description: 'Jobs that convert, inspect, prepare, export and publish Windows disk images. Mutual TLS.' },
      servers: [{ url: `https://${config.host}:${config.port}` }],
      components: { securitySchemes: { mutualTLS: { type: 'mutualTLS' } as never } },
      security: [{ mutualTLS: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => String(json.$id ?? `def-${i}`) },
  });
  app.addSchema(errorSchema);
  app.addSchema(progressSchema);
  app.addSchema(jobSchema);

  await app.register(healthRoutes, { runner, config });
  await app.register(jobRoutes, { runner, jobTypes, jobLogs });
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await runner.recover();

  return {
    app,
    runner,
    store,
    async close() {
      await runner.shutdown();
      await app.close();
      await jobLogs.closeAll();
      await store.close();
    },
  };
}
