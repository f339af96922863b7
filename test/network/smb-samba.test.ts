/**
 * The SMB client against a real smbd (default security: signing enabled, not required):
 * files, directories, free space, atomic output, typed errors, concurrent writers.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startSamba } from '../helpers/samba.js';
import { connectSmb, openRead, openWrite } from '../../network/smb/api.js';

const s = await startSamba(t, {
  shares: [{ name: 'share' }, { name: 'ro', readOnly: true }, { name: 'tiny', dfree: { totalKiB: 100_000, freeKiB: 1000 } }],
});
const cred = { credential: { user: s.user, password: s.password } };
const share = s.sharePath('share');

t.test('write (out of order, with pwrite), commit renames .partial, read back', async (t) => {
  const data = randomBytes(3 * 1024 * 1024 + 77);
  const sink = await openWrite(s.url('share', 'a.bin'), { ...cred, verify: true, size: data.length });
  t.ok((await readdir(share)).includes('a.bin.partial'), 'writes go to <name>.partial');
  await sink.pwrite(data.subarray(2 * 1024 * 1024), 2 * 1024 * 1024); // tail first
  await sink.pwrite(data.subarray(0, 1000), 0);
  await sink.pwrite(data.subarray(1000, 2 * 1024 * 1024), 1000);
  const r = await sink.commit();
  t.equal(r.size, data.length);
  t.equal(r.verified, true);
  t.equal(r.verifiedBytes, data.length);
  t.same(await readdir(share).then((l) => l.filter((n) => n.startsWith('a.bin'))), ['a.bin']);
  t.ok((await readFile(join(share, 'a.bin'))).equals(data));
  const src = await openRead(s.url('share', 'a.bin'), cred);
  t.equal(src.size, data.length);
  const buf = Buffer.alloc(data.length + 10);
  t.equal(await src.pread(buf, 0), data.length, 'short only at EOF');
  t.ok(buf.subarray(0, data.length).equals(data));
  t.equal(await src.pread(Buffer.alloc(10), data.length), 0);
  await src.close();
});

t.test('sparse writes and truncate: holes read as zero, verify covers them', async (t) => {
  const sink = await openWrite(s.url('share', 'sparse.bin'), { ...cred, verify: true });
  await sink.pwrite(Buffer.alloc(4096, 1), 10 * 1024 * 1024);
  await sink.truncate(20 * 1024 * 1024);
  const r = await sink.commit();
  t.equal(r.size, 20 * 1024 * 1024);
  t.equal(r.verifiedBytes, 20 * 1024 * 1024);
  const f = await readFile(join(share, 'sparse.bin'));
  t.equal(f.length, 20 * 1024 * 1024);
  t.equal(f[10 * 1024 * 1024], 1);
  t.equal(f[0], 0);
});

t.test('never overwrite unless asked; overwrite replaces', async (t) => {
  await writeFile(join(share, 'exists.bin'), 'old');
  await t.rejects(openWrite(s.url('share', 'exists.bin'), cred), { code: 'SMB_OUTPUT_EXISTS' });
  const sink = await openWrite(s.url('share', 'exists.bin'), { ...cred, overwrite: true });
  await sink.pwrite(Buffer.from('new!'), 0);
  await sink.commit();
  t.equal(await readFile(join(share, 'exists.bin'), 'utf8'), 'new!');
});

t.test('close() without commit (failure/cancel) deletes the partial file', async (t) => {
  const ac = new AbortController();
  const sink = await openWrite(s.url('share', 'cancelled.bin'), { ...cred, signal: ac.signal });
  await sink.pwrite(randomBytes(2 * 1024 * 1024), 0);
  ac.abort();
  await t.rejects(sink.pwrite(Buffer.alloc(10), 0), { code: 'CANCELLED' });
  await sink.close();
  t.notOk((await readdir(share)).some((n) => n.startsWith('cancelled')), 'no partial, no final file');
});

t.test('directories, stat, delete, free space', async (t) => {
  await mkdir(join(share, 'dir', 'sub'), { recursive: true });
  await writeFile(join(share, 'dir', 'f1'), 'abc');
  const { client } = await connectSmb(s.url('share'), cred);
  t.teardown(() => client.disconnect());
  const list = await client.list('dir');
  t.same(list.map((e) => [e.name, e.isDirectory, e.size]).sort(), [
    ['f1', false, 3],
    ['sub', true, 0],
  ]);
  t.equal((await client.stat('dir\\f1'))?.size, 3);
  t.equal(await client.stat('nope'), undefined);
  await client.deleteFile('dir\\f1');
  t.equal(await client.stat('dir\\f1'), undefined);
  await t.rejects(client.deleteFile('dir\\f1'), { code: 'SMB_NOT_FOUND' });
  const fs = await client.fsSize();
  t.ok(fs.totalBytes > 0 && fs.callerAvailableBytes > 0 && fs.callerAvailableBytes <= fs.totalBytes);
  // Many files in one directory exercise QUERY_DIRECTORY continuation.
  await mkdir(join(share, 'many'));
  for (let i = 0; i < 600; i++) await writeFile(join(share, 'many', `file-with-a-long-name-${String(i).padStart(4, '0')}.txt`), '');
  t.equal((await client.list('many')).length, 600);
});

t.test('free-space rule: SMB_NO_SPACE states both numbers before writing', async (t) => {
  const err = await openWrite(s.url('tiny', 'img.vhdx'), { ...cred, size: 600 * 1024 }).catch((e) => e);
  t.equal(err.code, 'SMB_NO_SPACE');
  t.match(err.message, /1024000 bytes\) free/);
  t.match(err.message, /614400 bytes/);
  t.match(err.message, /1228800 bytes/);
  t.same(await readdir(s.sharePath('tiny')), [], 'nothing written');
  const ok = await openWrite(s.url('tiny', 'small.bin'), { ...cred, size: 100 * 1024 });
  await ok.close();
});

t.test('typed errors: wrong password, wrong share, read-only share, missing dir, guest', async (t) => {
  await t.rejects(connectSmb(s.url('share'), { credential: { user: s.user, password: 'wrong' } }), { code: 'SMB_LOGON_FAILURE' });
  await t.rejects(connectSmb(s.url('share'), { credential: { user: 'nosuchuser', password: 'x' } }), { code: 'SMB_LOGON_FAILURE' });
  await t.rejects(connectSmb(s.url('nosuchshare'), cred), { code: 'SMB_BAD_NETWORK_NAME' });
  await t.rejects(openWrite(s.url('ro', 'x.bin'), cred), { code: 'SMB_ACCESS_DENIED' });
  await t.rejects(openWrite(s.url('share', 'no/such/dir/x.bin'), cred), { code: 'SMB_PATH_NOT_FOUND' });
  await t.rejects(openRead(s.url('share', 'missing.bin'), cred), { code: 'SMB_NOT_FOUND' });
  await t.rejects(connectSmb(`smb://127.0.0.1:${s.port}/share`, { env: {} }), { code: 'SMB_NO_USER' });
  await t.rejects(connectSmb(`smb://127.0.0.1:${s.port}/share`, { credential: { user: '', password: '' } }), { code: 'SMB_GUEST_REFUSED' });
  const closed = await (await import('../helpers/samba.js')).freePort();
  await t.rejects(connectSmb(`smb://u@127.0.0.1:${closed}/share`, { credential: { user: 'u', password: 'p' } }), { code: 'SMB_CONNECT_FAILED' });
});

t.test('concurrent writers to different files over separate connections', async (t) => {
  const datas = Array.from({ length: 4 }, () => randomBytes(4 * 1024 * 1024 + 5));
  await Promise.all(
    datas.map(async (d, i) => {
      const sink = await openWrite(s.url('share', `c${i}.bin`), cred);
      for (let off = 0; off < d.length; off += 512 * 1024) await sink.pwrite(d.subarray(off, off + 512 * 1024), off);
      await sink.commit();
    }),
  );
  for (let i = 0; i < datas.length; i++) t.ok((await readFile(join(share, `c${i}.bin`))).equals(datas[i]!), `c${i}.bin`);
});
