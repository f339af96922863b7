/**
 * A CE killed (SIGKILL) in the middle of an export and restarted: the job is `interrupted` (its
 * SMB credential lived only in memory), nothing stands under the final name, and the retried
 * export replaces the stale `.partial`, leaving a final file identical in content to a clean run.
 */
import t from 'tap';
import { execa, type ResultPromise } from 'execa';
import { stat } from 'node:fs/promises';
import { call, identityFrom } from '../helpers/https.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/service.js';
import { startSamba } from '../helpers/samba.js';
import { makeSparseRaw, qemuCompare } from '../helpers/disk-images.js';

const MiB = 1024 * 1024;

async function spawnServe(dataDir: string): Promise<{ proc: ResultPromise; url: string }> {
  const proc = execa(process.execPath, ['--import', 'tsx', `${ROOT}ce-server/cli/main.ts`, 'serve', '--json', '--port', '0', '--data-dir', dataDir], { cwd: ROOT, reject: false });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve((JSON.parse(out.split('\n')[0]!) as { url: string }).url);
    });
    void proc.then((r) => reject(new Error(`serve exited: ${String(r.stderr)}`)));
  });
  return { proc, url };
}

t.test('kill -9 mid-export, restart, retry', async (t) => {
  const smb = await startSamba(t);
  const dir = await tempDir(t);
  const src = `${dir}/master.raw`;
  await makeSparseRaw(src, 256 * MiB, 96, 21);
  const body = (path: string) => ({
    type: 'export',
    source: { kind: 'file', path: src },
    target: { kind: 'smb', smb: { server: '127.0.0.1', port: smb.port, share: 'share', path, credential: { username: smb.user, password: smb.password } } },
    format: 'vhdx',
    hashDisk: true,
  });
  const dataDir = await tempDir(t);
  const first = await spawnServe(dataDir);
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

  const second = await spawnServe(dataDir);
  t.teardown(() => second.proc.kill('SIGKILL'));
  const after = (await call(second.url, id, 'GET', `/v1/jobs/${job.body.id}`)).body;
  t.equal(after.state, 'interrupted');
  t.equal(after.error.code, 'JOB_SECRETS_LOST', 'the credential was held only in memory');

  const retry = await call(second.url, id, 'POST', '/v1/jobs', body('killed.vhdx'));
  const clean = await call(second.url, id, 'POST', '/v1/jobs', body('clean.vhdx'));
  for (const j of [retry, clean]) {
    await waitFor(async () => ['succeeded', 'failed'].includes((await call(second.url, id, 'GET', `/v1/jobs/${j.body.id}`)).body.state), 120_000, 'export');
    const done = (await call(second.url, id, 'GET', `/v1/jobs/${j.body.id}`)).body;
    t.equal(done.state, 'succeeded', JSON.stringify(done.error));
  }
  // VHDX files carry fresh GUIDs (file/data write GUIDs, page 83 id) per write, as Hyper-V expects,
  // so two clean runs differ in those fields: the virtual content is what must be identical.
  t.equal((await qemuCompare(`${share}/killed.vhdx`, 'vhdx', `${share}/clean.vhdx`, 'vhdx')).code, 0, 'retried output identical in content to a clean run');
  t.equal((await qemuCompare(src, 'raw', `${share}/killed.vhdx`, 'vhdx')).code, 0, 'and to the source');
  await t.rejects(stat(`${share}/killed.vhdx.partial`), 'the stale partial file was replaced, none left');
  second.proc.kill('SIGTERM');
  await second.proc;
});
