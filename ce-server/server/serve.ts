/**
 * `ce serve`: load the config, make sure a TLS identity exists (a local CA, server and client
 * certificates on first run), start HTTPS with mutual TLS, print how to reach it, and shut down
 * cleanly on SIGTERM/SIGINT (running jobs are left for recovery: resumed or marked interrupted).
 */
import { readFile } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { loadConfig, type ServiceConfig } from '../config.js';
import { ensureTlsIdentity, type TlsIdentity } from '../tls/identity.js';
import { loggerOptions } from '../../core/logger.js';
import { CeError } from '../../core/errors.js';
import { JobLogRouter } from '../jobs/job-log.js';
import { jobTypes } from '../jobs/job-types.js';
import { buildServer, type CeServer } from './app.js';
import { VERSION } from '../version.js';
import { prioritizeApiThread } from './priority.js';
import { setExitOnSignal, runAll as undoMountsAndLoops } from '../../disk/mount/cleanup.js';

export interface StartedService {
  server: CeServer;
  config: ServiceConfig;
  identity: TlsIdentity;
  url: string;
  summary: Record<string, unknown>;
}

/** `logDestination`: where log lines go (default stderr); tests pass a stream to read them. */
export async function startService(flags: Record<string, unknown>, logDestination?: pino.DestinationStream): Promise<StartedService> {
  const config = loadConfig(flags);
  const identity = await ensureTlsIdentity(config.tlsDir, config.serverNames);
  const clientCa = config.clientCa
    ? await readFile(config.clientCa, 'utf8').catch(() => {
        throw new CeError('TLS_CLIENT_CA_MISSING', `Cannot read the client CA ${config.clientCa}.`, { hint: 'Give a PEM file with --client-ca.' });
      })
    : identity.caCert;
  if (!clientCa) {
    throw new CeError('TLS_CLIENT_CA_MISSING', `No CA for client certificates: ${identity.paths.caCert} is absent and no --client-ca is set.`, {
      hint: 'Give the connector CA with --client-ca (or CE_CLIENT_CA), or remove the TLS directory to generate a local identity.',
    });
  }
  const events = new EventEmitter();
  const jobLogs = new JobLogRouter(join(config.dataDir, 'logs'), events);
  const opts = loggerOptions(config.logLevel);
  const level = String(opts.level);
  const logger = pino(opts, pino.multistream([{ level: level as pino.Level, stream: logDestination ?? pino.destination(2) }, { level: level as pino.Level, stream: jobLogs }]));
  const server = await buildServer({ config, tls: { key: identity.serverKey, cert: identity.serverCert, clientCa }, jobTypes, logger, jobLogs });
  await server.app.listen({ host: config.host, port: config.port });
  const addr = server.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const rel = (p: string) => {
    const r = relative(process.cwd(), p);
    return r && !r.startsWith('..') && !isAbsolute(r) ? r : p;
  };
  const curl = identity.clientCert
    ? `curl --cert ${rel(identity.paths.clientCert)} --key ${rel(identity.paths.clientKey)} --cacert ${rel(identity.paths.caCert)} ${url}/v1/health`
    : undefined;
  const summary = {
    version: VERSION,
    url,
    port,
    serverCertificateSha256: identity.serverFingerprint,
    tlsCreated: identity.created,
    dataDir: config.dataDir,
    clientCert: identity.clientCert ? identity.paths.clientCert : undefined,
    clientKey: identity.clientKey ? identity.paths.clientKey : undefined,
    caCert: identity.paths.caCert,
    curl,
  };
  logger.info({ url, fingerprint: identity.serverFingerprint }, 'CE listening');
  return { server, config, identity, url, summary };
}

export async function serveCommand(flags: Record<string, unknown>): Promise<void> {
  // The service shuts down itself: jobs stop at a safe point, then any mount or loop device still held is undone.
  setExitOnSignal(false);
  const svc = await startService(flags);
  // Only the real service raises its thread (not the tests that start it inside their process).
  const apiThreadNice = prioritizeApiThread(svc.config.apiNice);
  svc.server.app.log.info({ apiThreadNice }, 'API thread priority');
  const s = { ...svc.summary, apiThreadNice } as Record<string, unknown>;
  if (flags.json) {
    process.stdout.write(JSON.stringify(s) + '\n');
  } else {
    const lines = [
      `Compositing Engine ${s.version} listening on ${s.url}  (mutual TLS)`,
      `  server certificate SHA-256: ${s.serverCertificateSha256}`,
      s.tlsCreated ? `  created a local CA, server and client certificate in ${svc.identity.dir}` : `  TLS identity: ${svc.identity.dir}`,
      `  job store: ${svc.config.dataDir}`,
    ];
    if (s.curl) lines.push('', 'Try it:', `  ${s.curl}`);
    lines.push('', 'Logs (JSON lines) follow on stderr. Ctrl-C stops the service.');
    process.stdout.write(lines.join('\n') + '\n');
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      svc.server
        .close()
        .then(() => undoMountsAndLoops())
        .finally(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
