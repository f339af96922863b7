/**
 * Cancel reaches an export running in its worker thread in the middle of the transfer: the job
 * ends `cancelled`, and the share holds neither the final file nor the `.partial`.
 */
import t from 'tap';
import { readdir } from 'node:fs/promises';
import { call } from '../helpers/https.js';
import { startTestService, waitFor } from '../helpers/service.js';
import { startSamba } from '../helpers/samba.js';
import { tempDir } from '../helpers/tmp.js';
import { makeSparseRaw } from '../helpers/disk-images.js';

const MiB = 1024 * 1024;

t.test('cancel an export mid-transfer: cancelled, nothing left on the share', async (t) => {
  const smb = await startSamba(t, { global: { 'server signing': 'mandatory' } });
  const s = await startTestService(t);
  const dir = await tempDir(t);
  const src = `${dir}/master.raw`;
  await makeSparseRaw(src, 512 * MiB, 256, 31);
  const ex = await call(s.base, s.client, 'POST', '/v1/jobs', {
    type: 'export',
    source: { kind: 'file', path: src },
    target: { kind: 'smb', smb: { server: '127.0.0.1', port: smb.port, share: 'share', path: 'cancelled.vhdx', credential: { username: smb.user, password: smb.password } } },
    format: 'vhdx',
    hashDisk: true,
  });
  await waitFor(async () => {
    const j = (await call(s.base, s.client, 'GET', `/v1/jobs/${ex.body.id}`)).body;
    if (j.state !== 'running' && j.state !== 'queued') throw new Error(`export ended before the cancel: ${j.state}`);
    return (j.progress?.bytesDone ?? 0) > 0;
  }, 60_000, 'export in progress');
  const c = await call(s.base, s.client, 'POST', `/v1/jobs/${ex.body.id}/cancel`);
  t.equal(c.body.state, 'cancelled');
  t.same(await readdir(smb.sharePath('share')), [], 'no final file, no .partial');
});
