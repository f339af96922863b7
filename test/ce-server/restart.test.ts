/** A CE killed mid-job and restarted: the job is `interrupted`, nothing lost, never silently re-run. */
import t from 'tap';
import { execa } from 'execa';
import { call } from '../helpers/https.js';
import { identityFrom } from '../helpers/https.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { spawnServe, waitFor } from '../helpers/service.js';

t.test('kill -9 mid-job, restart: the job is interrupted with a reason; finished jobs are kept', async (t) => {
  const dataDir = await tempDir(t);
  const first = await spawnServe(dataDir);
  t.teardown(() => first.proc.kill('SIGKILL'));
  const id = identityFrom(`${dataDir}/tls`);
  const done = await call(first.url, id, 'POST', '/v1/jobs', { type: 'noop', seconds: 0 });
  await waitFor(async () => (await call(first.url, id, 'GET', `/v1/jobs/${done.body.id}`)).body.state === 'succeeded', 10_000, 'first job');
  const long = await call(first.url, id, 'POST', '/v1/jobs', { type: 'noop', seconds: 60 });
  await waitFor(async () => (await call(first.url, id, 'GET', `/v1/jobs/${long.body.id}`)).body.state === 'running', 10_000, 'running');
  first.proc.kill('SIGKILL');
  await first.proc;

  const second = await spawnServe(dataDir);
  t.teardown(() => second.proc.kill('SIGTERM'));
  const j = await call(second.url, id, 'GET', `/v1/jobs/${long.body.id}`);
  t.equal(j.body.state, 'interrupted');
  t.equal(j.body.error.code, 'JOB_INTERRUPTED');
  t.equal(j.body.attempts, 1, 'not re-run');
  const kept = await call(second.url, id, 'GET', `/v1/jobs/${done.body.id}`);
  t.equal(kept.body.state, 'succeeded', 'finished job kept');
  second.proc.kill('SIGTERM');
  const r = await second.proc;
  t.equal(r.exitCode, 0, 'SIGTERM stops the service cleanly');
});

t.test('a second server on the same data dir is refused', async (t) => {
  const dataDir = await tempDir(t);
  const first = await spawnServe(dataDir);
  t.teardown(() => first.proc.kill('SIGKILL'));
  const r = await execa(process.execPath, ['--import', 'tsx', `${ROOT}ce-server/cli/main.ts`, 'serve', '--json', '--port', '0', '--data-dir', dataDir], { cwd: ROOT, reject: false });
  t.equal(r.exitCode, 1);
  t.match(String(r.stdout), /JOB_STORE_LOCKED/);
});
