/**
 * Service configuration: flags > environment (CE_*) > config file (JSON) > defaults.
 * The defaults are the embedded local mode of `npm start`: state under ./var, HTTPS on 127.0.0.1:8443.
 */
import { readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { CeError } from '../core/errors.js';

export interface ServiceConfig {
  host: string;
  port: number;
  dataDir: string;
  tlsDir: string;
  /** PEM file of the CA that issues client certificates; default the local CA in tlsDir. */
  clientCa?: string;
  /** Optional SHA-256 fingerprints (hex, colons allowed) that client certificates must match. */
  clientFingerprints: string[];
  /** Hostnames/IPs in the generated server certificate (besides localhost and 127.0.0.1). */
  serverNames: string[];
  logLevel: string;
  maxConcurrentJobs: number;
  /** Run byte-heavy jobs (convert, export, publish) in worker threads, off the API's event loop. */
  jobThreads: boolean;
  /** Keep running jobs' credentials in the kernel keyring so a restarted CE can resume them. */
  keyring: boolean;
  /** Nice value for the API thread (server/priority.ts); `off`: leave it as started. */
  apiNice: number | 'off';
}

interface Key {
  key: keyof ServiceConfig;
  flag: string;
  arg: string;
  env: string;
  help: string;
  default?: string;
}

export const CONFIG_KEYS: Key[] = [
  { key: 'host', flag: 'host', arg: 'addr', env: 'CE_HOST', help: 'address to listen on', default: '127.0.0.1' },
  { key: 'port', flag: 'port', arg: 'n', env: 'CE_PORT', help: 'HTTPS port', default: '8443' },
  { key: 'dataDir', flag: 'data-dir', arg: 'dir', env: 'CE_DATA_DIR', help: 'state directory (job store, TLS identity)', default: './var' },
  { key: 'tlsDir', flag: 'tls-dir', arg: 'dir', env: 'CE_TLS_DIR', help: 'TLS identity directory', default: '<data-dir>/tls' },
  { key: 'clientCa', flag: 'client-ca', arg: 'pem', env: 'CE_CLIENT_CA', help: 'CA certificate that client certificates must chain to', default: '<tls-dir>/ca.crt' },
  { key: 'clientFingerprints', flag: 'client-fingerprints', arg: 'list', env: 'CE_CLIENT_FINGERPRINTS', help: 'comma-separated SHA-256 fingerprints client certificates must match (pinning)' },
  { key: 'serverNames', flag: 'server-names', arg: 'list', env: 'CE_SERVER_NAMES', help: 'extra DNS names/IPs for the generated server certificate' },
  { key: 'logLevel', flag: 'log-level', arg: 'level', env: 'CE_LOG_LEVEL', help: 'pino log level', default: 'info' },
  { key: 'maxConcurrentJobs', flag: 'max-jobs', arg: 'n', env: 'CE_MAX_JOBS', help: 'jobs running at once (the rest queue)', default: '2' },
  { key: 'jobThreads', flag: 'job-threads', arg: 'on|off', env: 'CE_JOB_THREADS', help: 'run convert, export and publish jobs in worker threads, off the API event loop', default: 'on' },
  { key: 'keyring', flag: 'keyring', arg: 'on|off', env: 'CE_KEYRING', help: 'keep running jobs\' credentials in the kernel keyring (memory only) so they resume after a CE restart', default: 'on' },
  { key: 'apiNice', flag: 'api-nice', arg: 'n|off', env: 'CE_API_NICE', help: 'nice value of the API thread, above the job threads\' 10 (needs root or CAP_SYS_NICE to go below the start value); off: leave it', default: '-5' },
  { key: 'configFile' as keyof ServiceConfig, flag: 'config', arg: 'file', env: 'CE_CONFIG', help: 'JSON config file' },
];

const flagToKey = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

export function loadConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const configFile = (flags.config as string | undefined) ?? env.CE_CONFIG;
  let file: Record<string, unknown> = {};
  if (configFile) {
    try {
      file = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new CeError('CONFIG_INVALID', `Cannot read the config file ${configFile}: ${(e as Error).message}`, {
        hint: 'The config file is JSON with the keys listed by `ce serve --help`.',
      });
    }
  }
  const pick = (k: Key): unknown => flags[flagToKey(k.flag)] ?? env[k.env] ?? file[k.key];
  const raw = Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, pick(k)])) as Record<string, unknown>;
  const list = (v: unknown): string[] =>
    Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const int = (v: unknown, name: string, dflt: number, min: number, max: number): number => {
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new CeError('CONFIG_INVALID', `${name} must be an integer from ${min} to ${max}, got ${String(v)}.`);
    }
    return n;
  };
  const dataDir = resolve(String(raw.dataDir ?? './var'));
  const tlsDir = resolve(String(raw.tlsDir ?? join(dataDir, 'tls')));
  return {
    host: String(raw.host ?? '127.0.0.1'),
    port: int(raw.port, 'port', 8443, 0, 65535),
    dataDir,
    tlsDir,
    clientCa: raw.clientCa ? resolve(String(raw.clientCa)) : undefined,
    clientFingerprints: list(raw.clientFingerprints).map(normalizeFingerprint),
    serverNames: list(raw.serverNames),
    logLevel: String(raw.logLevel ?? 'info'),
    maxConcurrentJobs: int(raw.maxConcurrentJobs, 'max-jobs', 2, 1, 64),
    jobThreads: onOff(raw.jobThreads, 'job-threads', true),
    keyring: onOff(raw.keyring, 'keyring', true),
    apiNice: raw.apiNice === 'off' || raw.apiNice === false ? 'off' : int(raw.apiNice, 'api-nice', -5, -20, 19),
  };
}

function onOff(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined || v === '') return dflt;
  if (v === true || v === 'on' || v === 'true' || v === '1') return true;
  if (v === false || v === 'off' || v === 'false' || v === '0') return false;
  throw new CeError('CONFIG_INVALID', `${name} must be on or off, got ${String(v)}.`);
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[:\s]/g, '').toUpperCase();
}
