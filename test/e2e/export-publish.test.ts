/**
 * Jobs end to end over real HTTPS with client certificates and a real Samba: export to an SMB
 * share as VHDX with hashes, publish from SMB to an Azure fixed VHD and to a block device, dry
 * runs that write nothing, and credentials that never reach the store or the logs.
 */
import t from 'tap';
import { readFile, stat, writeFile, truncate } from 'node:fs/promises';
import { execa } from 'execa';
import { call, readEvents } from '../helpers/https.js';
import { startTestService } from '../helpers/service.js';
import { startSamba } from '../helpers/samba.js';
import { tempDir } from '../helpers/tmp.js';
import { needs } from '../helpers/env.js';
import { makeSparseRaw, md5File, qemuCompare, qemuInfo } from '../helpers/disk-images.js';

const MiB = 1024 * 1024;
const finalState = (e: { event: string; data: { state?: string } }) => e.event === 'state' && ['succeeded', 'failed', 'cancelled', 'interrupted'].includes(e.data.state ?? '');

t.test('export → SMB (VHDX + hashes), publish ← SMB (Azure fixed VHD, block device)', async (t) => {
  const smb = await startSamba(t, { global: { 'server signing': 'mandatory' } });
  const s = await startTestService(t);
  const dir = await tempDir(t);
  const src = `${dir}/master.raw`;
  await makeSparseRaw(src, 40 * MiB + 4096, 16, 11);
  const srcMd5 = await md5File(src);
  const smbLoc = (path: string) => ({ server: '127.0.0.1', port: smb.port, share: 'share', path, credential: { username: smb.user, password: smb.password } });

  // Dry run: a plan, nothing on the share.
  const dry = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'export', dryRun: true, source: { kind: 'file', path: src }, target: { kind: 'smb', smb: smbLoc('out/master.vhdx') }, format: 'vhdx', hashDisk: true });
  t.equal(dry.status, 202);
  const dryEnd = await readEvents(s.base, s.client, `/v1/jobs/${dry.body.id}/events`, finalState);
  t.equal(dryEnd.at(-1)!.data.state, 'succeeded');
  const dryJob = await call(s.base, s.client, 'GET', `/v1/jobs/${dry.body.id}`);
  t.equal(dryJob.body.result.dryRun, true);
  t.notMatch((await smb.smbclient('share', 'ls')).stdout, /out/, 'dry run wrote nothing');

  await smb.smbclient('share', 'mkdir out');
  const ex = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'export', source: { kind: 'file', path: src }, target: { kind: 'smb', smb: smbLoc('out/master.vhdx') }, format: 'vhdx', hashDisk: true, verify: true });
  const exEvents = await readEvents(s.base, s.client, `/v1/jobs/${ex.body.id}/events`, finalState, 120_000);
  const exJob = await call(s.base, s.client, 'GET', `/v1/jobs/${ex.body.id}`);
  t.equal(exJob.body.state, 'succeeded', JSON.stringify(exJob.body.error));
  t.ok(exEvents.some((e) => e.event === 'progress'), 'progress events');
  const onShare = `${smb.sharePath('share')}/out/master.vhdx`;
  t.equal(exJob.body.result.output.md5, await md5File(onShare), 'reported md5 = md5 of the file on the share');
  t.equal((await qemuInfo(onShare)).format, 'vhdx');
  t.equal((await qemuCompare(src, 'raw', onShare, 'vhdx')).code, 0, 'same content as the source');
  t.ok(exJob.body.result.timings['convert and deliver'] >= 0, 'timings per step');

  // Publish to an Azure fixed VHD on local disk.
  const azure = `${dir}/azure.vhd`;
  const pub = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'publish', source: { kind: 'smb', smb: smbLoc('out/master.vhdx') }, target: { kind: 'file', path: azure }, preset: 'azure', hashDisk: true });
  await readEvents(s.base, s.client, `/v1/jobs/${pub.body.id}/events`, finalState, 120_000);
  const pubJob = await call(s.base, s.client, 'GET', `/v1/jobs/${pub.body.id}`);
  t.equal(pubJob.body.state, 'succeeded', JSON.stringify(pubJob.body.error));
  const vsize = Math.ceil((40 * MiB + 4096) / MiB) * MiB;
  t.equal((await stat(azure)).size, vsize + 512, 'Azure: whole MiB + 512-byte footer');
  t.equal((await qemuCompare(src, 'raw', azure, 'vpc')).code, 0, 'same content (zero-padded to the MiB)');

  // Publish onto a block device (a loop device over a file holding old data).
  const skip = needs({ root: true, loop: true });
  if (!skip) {
    const back = `${dir}/device.img`;
    await writeFile(back, Buffer.alloc(MiB, 0xaa));
    await truncate(back, vsize);
    const loop = (await execa('losetup', ['-f', '--show', back])).stdout.trim();
    t.teardown(() => execa('losetup', ['-d', loop], { reject: false }));
    const dev = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'publish', source: { kind: 'smb', smb: smbLoc('out/master.vhdx') }, target: { kind: 'device', path: loop }, format: 'raw' });
    await readEvents(s.base, s.client, `/v1/jobs/${dev.body.id}/events`, finalState, 120_000);
    const devJob = await call(s.base, s.client, 'GET', `/v1/jobs/${dev.body.id}`);
    t.equal(devJob.body.state, 'succeeded', JSON.stringify(devJob.body.error));
    await execa('losetup', ['-d', loop]);
    await truncate(back, 40 * MiB + 4096);
    t.equal(await md5File(back), srcMd5, 'device holds the disk byte for byte (old data overwritten)');
  } else t.comment(`block device publish skipped: ${skip}`);

  // Secrets: never in the store, the job, its log or the service log.
  const journal = await readFile(`${s.dataDir}/jobs.journal`, 'utf8');
  const log = await call(s.base, s.client, 'GET', `/v1/jobs/${ex.body.id}/log`);
  for (const [what, text] of [['job store', journal], ['job', exJob.text], ['job log', log.text], ['service log', s.logs()]] as const) {
    t.notMatch(text, smb.password, `no SMB password in the ${what}`);
  }
});

t.test('export failures are typed and leave nothing: wrong password, no space', async (t) => {
  const smb = await startSamba(t, { shares: [{ name: 'share' }, { name: 'tiny', dfree: { totalKiB: 20 * 1024, freeKiB: 10 * 1024 } }] });
  const s = await startTestService(t);
  const dir = await tempDir(t);
  const src = `${dir}/master.raw`;
  await makeSparseRaw(src, 16 * MiB, 4, 5);
  const run = async (share: string, password: string) => {
    const a = await call(s.base, s.client, 'POST', '/v1/jobs', { type: 'export', source: { kind: 'file', path: src }, target: { kind: 'smb', smb: { server: '127.0.0.1', port: smb.port, share, path: 'x.vhdx', credential: { username: smb.user, password } } } });
    await readEvents(s.base, s.client, `/v1/jobs/${a.body.id}/events`, finalState, 60_000);
    return (await call(s.base, s.client, 'GET', `/v1/jobs/${a.body.id}`)).body;
  };
  const denied = await run('share', 'wrong-password');
  t.equal(denied.state, 'failed');
  t.equal(denied.error.code, 'SMB_LOGON_FAILURE');
  const full = await run('tiny', smb.password);
  t.equal(full.error.code, 'SMB_NO_SPACE');
  t.notMatch((await smb.smbclient('tiny', 'ls')).stdout, /x\.vhdx/, 'no output and no partial file');
});
