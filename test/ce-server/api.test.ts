/** The HTTPS API over real mutual TLS with real certificates. */
import t from 'tap';
import { call, readEvents } from '../helpers/https.js';
import { startTestService, waitFor } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { ensureTlsIdentity, issueClientCert } from '../../ce-server/tls/identity.js';
import { X509Certificate } from 'node:crypto';

t.test('mutual TLS: no cert refused, foreign CA refused, right cert accepted', async (t) => {
  const s = await startTestService(t);
  await t.rejects(call(s.base, { ca: s.client.ca }, 'GET', '/v1/health'), 'no client certificate: the handshake fails');
  const other = await ensureTlsIdentity(await tempDir(t));
  await t.rejects(call(s.base, { ca: s.client.ca, cert: other.clientCert, key: other.clientKey }, 'GET', '/v1/health'), 'certificate from another CA');
  const ok = await call(s.base, s.client, 'GET', '/v1/health');
  t.equal(ok.status, 200);
  t.equal(ok.body.status, 'ok');
  t.type(ok.body.dataDir.freeBytes, 'number');
  t.match(ok.body.eventLoop, { windowSeconds: 10, utilization: Number, delayP99Ms: Number, delayMaxMs: Number }, 'event-loop load reported');
  t.equal(new X509Certificate(s.svc.identity.serverCert).fingerprint256, s.svc.summary.serverCertificateSha256, 'printed fingerprint is the served certificate');
});

t.test('client certificate pinning', async (t) => {
  const dir = await tempDir(t);
  const id = await ensureTlsIdentity(`${dir}/tls`);
  const second = await issueClientCert(id.dir, 'second-client');
  const fp = new X509Certificate(second.cert).fingerprint256;
  const s = await startTestService(t, { clientFingerprints: fp }, dir);
  const refused = await call(s.base, s.client, 'GET', '/v1/health');
  t.equal(refused.status, 401);
  t.equal(refused.body.code, 'TLS_CLIENT_CERT_NOT_PINNED');
  const ok = await call(s.base, { ca: s.client.ca, cert: second.cert, key: second.key }, 'GET', '/v1/health');
  t.equal(ok.status, 200);
});

t.test('schema errors give 400 with code and details; unknown routes 404', async (t) => {
  const s = await startTestService(t);
  const bad = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'noop', seconds: 'soon' });
  t.equal(bad.status, 400);
  t.equal(bad.body.code, 'VALIDATION_FAILED');
  t.ok(bad.body.details.some((d: { path: string }) => d.path === '/seconds'), 'details name the field');
  const unknown = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'teleport' });
  t.equal(unknown.status, 400);
  const missing = await call(s.base, s.client, 'GET', '/v1/jobs/does-not-exist');
  t.equal(missing.status, 404);
  t.equal(missing.body.code, 'JOB_NOT_FOUND');
  const nf = await call(s.base, s.client, 'GET', '/v2/nothing');
  t.equal(nf.status, 404);
  t.notMatch(nf.text, /at .*\.ts:\d+/, 'no stack trace');
});

t.test('idempotent submit returns the same job; a different body with the key conflicts', async (t) => {
  const s = await startTestService(t);
  const h = { 'idempotency-key': 'abc-123' };
  const a = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'noop', seconds: 0 }, h);
  t.equal(a.status, 202);
  const b = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'noop', seconds: 0 }, h);
  t.equal(b.status, 200);
  t.equal(b.body.id, a.body.id, 'same job');
  const c = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'noop', seconds: 1 }, h);
  t.equal(c.status, 409);
  t.equal(c.body.code, 'IDEMPOTENCY_CONFLICT');
  const list = await call(s.base, s.client, 'GET', '/v1/jobs?type=noop');
  t.equal(list.body.jobs.length, 1, 'one job only');
});

t.test('cancel of a running job', async (t) => {
  const s = await startTestService(t);
  const a = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'noop', seconds: 30 });
  await waitFor(async () => (await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}`)).body.state === 'running', 10_000, 'running');
  const c = await call(s.base, s.client, 'POST', `/v1/jobs/${a.body.id}/cancel`);
  t.equal(c.status, 200);
  t.equal(c.body.state, 'cancelled');
  const g = await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}`);
  t.equal(g.body.state, 'cancelled');
  t.ok(g.body.finishedAt);
});

t.test('SSE stream delivers step, progress and the final state', async (t) => {
  const s = await startTestService(t);
  const a = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'noop', seconds: 1 });
  const events = await readEvents(s.base, s.client, `/v1/jobs/${a.body.id}/events`, (e) => e.event === 'state' && e.data.state === 'succeeded');
  t.ok(events.some((e) => e.event === 'progress' && e.data.bytesTotal === 1000), 'progress events');
  t.ok(events.some((e) => e.event === 'log'), 'log lines');
  t.equal(events[events.length - 1]!.data.state, 'succeeded');
  const done = await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}`);
  t.same(done.body.result, { waitedSeconds: 1 });
  t.equal(done.body.steps[0].name, 'wait');
  t.type(done.body.steps[0].seconds, 'number');
});

t.test('a submitted password never appears in logs, the job, its log or events', async (t) => {
  const s = await startTestService(t);
  const secret = 'Tr0ub4dor&3-never-log-me';
  const body = { type: 'noop', seconds: 0.2, target: { kind: 'smb', smb: { server: 'fs1', share: 'img', credential: { domain: 'CORP', username: 'svc', password: secret } } } };
  const a = await call(s.base, s.client, 'POST', '/v1/jobs', body);
  t.equal(a.status, 202);
  const events = await readEvents(s.base, s.client, `/v1/jobs/${a.body.id}/events`, (e) => e.event === 'state' && e.data.state === 'succeeded');
  const job = await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}`);
  const log = await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}/log`);
  t.equal(job.body.options.target.smb.credential.password, '[redacted]');
  t.equal(job.body.options.target.smb.credential.username, 'svc', 'non-secrets stay');
  for (const [what, text] of [['job', job.text], ['job log', log.text], ['events', JSON.stringify(events)], ['service log', s.logs()]] as const) {
    t.notMatch(text, secret, `no password in the ${what}`);
  }
  t.match(log.text, /job succeeded/);
  const { readFile } = await import('node:fs/promises');
  t.notMatch(await readFile(`${s.dataDir}/jobs.journal`, 'utf8'), secret, 'no password in the job store');
});

t.test('OpenAPI document is generated from the route schemas', async (t) => {
  const s = await startTestService(t);
  const doc = await call(s.base, s.client, 'GET', '/v1/openapi.json');
  t.equal(doc.status, 200);
  t.ok(doc.body.paths['/v1/jobs'].post, 'submit');
  t.ok(doc.body.paths['/v1/jobs/{id}/events'], 'events');
  t.ok(doc.body.components.schemas.Job, 'Job schema');
});

t.test('a CE VM identity: server key/cert from first boot, the connector CA given with --client-ca', async (t) => {
  const { mkdir, copyFile } = await import('node:fs/promises');
  const connector = await ensureTlsIdentity(await tempDir(t)); // stands in for the connector's PKI
  const vmData = await tempDir(t);
  await mkdir(`${vmData}/tls`);
  await copyFile(connector.paths.serverCert, `${vmData}/tls/server.crt`);
  await copyFile(connector.paths.serverKey, `${vmData}/tls/server.key`);
  const { startService } = await import('../../ce-server/server/serve.js');
  await t.rejects(startService({ port: '0', dataDir: vmData }), { code: 'TLS_CLIENT_CA_MISSING' }, 'no CA at all: refused with a hint');
  const s = await startTestService(t, { clientCa: connector.paths.caCert }, vmData);
  const ok = await call(s.base, { ca: connector.caCert!, cert: connector.clientCert, key: connector.clientKey }, 'GET', '/v1/health');
  t.equal(ok.status, 200, 'connector client certificate accepted');
});
