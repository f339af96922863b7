/** The `inspect` job over the API on a real image made by qemu-img. */
import t from 'tap';
import { execa } from 'execa';
import { call, readEvents } from '../helpers/https.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

t.test('inspect a qcow2 image through POST /v1/jobs', async (t) => {
  const dir = await tempDir(t);
  const img = `${dir}/disk.qcow2`;
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
  const s = await startTestService(t);
  const a = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'inspect', source: { kind: 'file', path: img } });
  t.equal(a.status, 202);
  const ev = await readEvents(s.base, s.client, `/v1/jobs/${a.body.id}/events`, (e) => e.event === 'state' && ['succeeded', 'failed'].includes(e.data.state));
  t.equal(ev[ev.length - 1]!.data.state, 'succeeded');
  const job = await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}`);
  t.match(job.body.result, { format: 'qcow2', virtualSize: 64 * 1024 * 1024 });
  t.type(job.body.result.fileSize, 'number');
});

t.test('inspect of a missing file fails with a typed error', async (t) => {
  const s = await startTestService(t);
  const a = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'inspect', source: { kind: 'file', path: '/nonexistent/x.vhd' } });
  const ev = await readEvents(s.base, s.client, `/v1/jobs/${a.body.id}/events`, (e) => e.event === 'state' && ['succeeded', 'failed'].includes(e.data.state));
  t.equal(ev[ev.length - 1]!.data.state, 'failed');
  const job = await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}`);
  t.equal(job.body.error.code, 'SOURCE_NOT_FOUND');
  t.ok(job.body.error.hint);
});
