/**
 * A CE killed (SIGKILL) in the middle of an export and restarted. Nothing stands under the final
 * name after the kill. With the kernel keyring (the default), the restarted CE recalls the job's
 * SMB credential and resumes the export: it succeeds, the stale `.partial` is gone, and the output
 * is identical in content to a clean run. With `--keyring off` the credential lived only in the
 * dead process: the job is `interrupted` (JOB_SECRETS_LOST) and a retry replaces the stale `.partial`.
 */
import t from 'tap';
import { execa } from 'execa';
import { stat } from 'node:fs/promises';
import { call, identityFrom } from '../helpers/https.js';
import { tempDir } from '../helpers/tmp.js';
import { spawnServe, waitFor } from '../helpers/service.js';
import { startSamba } from '../helpers/samba.js';
import { makeSparseRaw, qemuCompare } from '../helpers/disk-images.js';

const MiB = 1024 * 1024;

for (const keyring of ['on', 'off'] as const) t.test(`kill -9 mid-export, restart (keyring ${keyring})`, async (t) => {
  const smb = await startSamba(t);
  const dir = await tempDir(t);
  const src = `${dir}/master.raw`;
  // Large enough (~320 MiB of data) that the export is still running when the kill comes.
  await makeSparseRaw(src, 1024 * MiB, 320, 21);
  const body = (path: string) => ({
    type: 'export',
    source: { kind: 'file', path: src },
    target: { kind: 'smb', smb: { server: '127.0.0.1', port: smb.port, share: 'share', path, credential: { username: smb.user, password: smb.password } } },
    format: 'vhdx',
    hashDisk: true,
  });
  const dataDir = await tempDir(t);
  const first = await spawnServe(dataDir, ['--keyring', keyring]);
  t.teardown(() => first.proc.kill('SIGKILL'));
  const id = identityFrom(`${dataDir}/tls`);
  const job = await call(first.url, id, 'POST', '/v1/jobs', body('killed.vhdx'));
  await waitFor(async () => {
    const j = (await call(first.url, id, 'GET', `/v1/jobs/${job.body.id}`)).body;
    if (j.state !== 'running' && j.state !== 'queued') throw new Error(`export ended before the kill: ${j.state}`);
    return (j.progress?.bytesDone ?? 0) > 0;
  }, 60_000, 'export in progress');
  first.proc.kill('SIGKILL');
  await first.proc;
  const share = smb.sharePath('share');
  await t.rejects(stat(`${share}/killed.vhdx`), 'nothing under the final name');

  const second = await spawnServe(dataDir, ['--keyring', keyring]);
  t.teardown(() => second.proc.kill('SIGKILL'));
  const finished = async (jobId: string) => {
    await waitFor(async () => ['succeeded', 'failed', 'interrupted'].includes((await call(second.url, id, 'GET', `/v1/jobs/${jobId}`)).body.state), 120_000, 'export');
    return (await call(second.url, id, 'GET', `/v1/jobs/${jobId}`)).body;
  };
  if (keyring === 'on') {
    const resumed = await finished(job.body.id);
    t.equal(resumed.state, 'succeeded', `resumed with the credential from the kernel keyring: ${JSON.stringify(resumed.error)}`);
    t.equal(resumed.attempts, 2, 'second attempt');
    t.notMatch(JSON.stringify(resumed), smb.password, 'the job record still has no password');
    const keys = await execa('keyctl', ['search', '@u', 'user', `ce:job:${job.body.id}`], { reject: false });
    t.not(keys.exitCode, 0, 'the credential left the keyring when the job ended');
  } else {
    const after = (await call(second.url, id, 'GET', `/v1/jobs/${job.body.id}`)).body;
    t.equal(after.state, 'interrupted');
    t.equal(after.error.code, 'JOB_SECRETS_LOST', 'the credential was held only in memory');
    const retry = await call(second.url, id, 'POST', '/v1/jobs', body('killed.vhdx'));
    t.equal((await finished(retry.body.id)).state, 'succeeded');
  }
  const clean = await call(second.url, id, 'POST', '/v1/jobs', body('clean.vhdx'));
  const done = await finished(clean.body.id);
  t.equal(done.state, 'succeeded', JSON.stringify(done.error));
  // VHDX files carry fresh GUIDs (file/data write GUIDs, page 83 id) per write, as Hyper-V expects,
  // so two clean runs differ in those fields: the virtual content is what must be identical.
  t.equal((await qemuCompare(`${share}/killed.vhdx`, 'vhdx', `${share}/clean.vhdx`, 'vhdx')).code, 0, 'retried output identical in content to a clean run');
  t.equal((await qemuCompare(src, 'raw', `${share}/killed.vhdx`, 'vhdx')).code, 0, 'and to the source');
  await t.rejects(stat(`${share}/killed.vhdx.partial`), 'the stale partial file was replaced, none left');
  await t.rejects(stat(`${share}/clean.vhdx.partial`), 'no partial file of the clean run');
  second.proc.kill('SIGTERM');
  await second.proc;
});
