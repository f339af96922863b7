/**
 * API benchmark (not a test): autocannon against GET /v1/jobs/:id over mutual TLS,
 * 100 connections for 10 s on loopback. Prints requests/s, p99 latency, errors and the
 * service's peak RSS. Targets (issue 3): p99 < 50 ms, zero errors, RSS < 150 MiB.
 * Usage: npm run bench:api [-- --connections 100 --seconds 10]
 */
import autocannon from 'autocannon';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { call } from '../helpers/https.js';
import { startServiceProcess } from './lib/service-process.js';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '100' }, seconds: { type: 'string', default: '10' } } });
const dataDir = await mkdtemp(join(tmpdir(), 'ce-bench-api-'));
// As users run it: bin/ce.cjs runs the compiled service when `npm run build` has made dist/
// (what npm start does), else the sources through tsx (which adds ~40 MiB of RSS for the compiler).
const svc = await startServiceProcess(dataDir);
const { url, client: id, mode } = svc;
const job = await call(url, id, 'POST', '/v1/jobs', { type: 'noop', seconds: 0 });
const result = await autocannon({
  url: `${url}/v1/jobs/${job.body.id}`,
  connections: Number(values.connections),
  duration: Number(values.seconds),
  tlsOptions: { cert: id.cert, key: id.key, ca: id.ca },
});
const peakMiB = await svc.peakRssMiB();
await svc.stop();
await rm(dataDir, { recursive: true, force: true });

const errors = result.errors + result.timeouts + result.non2xx;
const rows = [
  ['connections', String(values.connections)],
  ['duration (s)', String(values.seconds)],
  ['requests/s (mean)', result.requests.average.toFixed(0)],
  ['latency p50 (ms)', String(result.latency.p50)],
  ['latency p99 (ms)', `${result.latency.p99}  (target < 50)`],
  ['errors + timeouts + non-2xx', `${errors}  (target 0)`],
  ['service peak RSS (MiB)', `${peakMiB.toFixed(0)}  (target < 150)`],
];
console.log(`\nGET /v1/jobs/:id over mutual TLS, service ${mode}`);
for (const [k, v] of rows) console.log(`  ${k.padEnd(30)} ${v}`);
