/**
 * Connection cut mid-transfer: smbd (and its connection child) is killed while writes are in
 * flight. With the server back, the client reconnects with the same credentials, reopens the
 * partial file and finishes; with the server gone, it fails cleanly and no final file appears.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startSamba } from '../helpers/samba.js';
import { openWrite } from '../../network/smb/api.js';

t.test('server killed and restarted mid-transfer: reconnect and resume, file intact', async (t) => {
  const s = await startSamba(t, { global: { 'server signing': 'mandatory' } });
  const data = randomBytes(48 * 1024 * 1024);
  const events: Array<{ ok: boolean }> = [];
  const sink = await openWrite(s.url('share', 'r.bin'), {
    credential: { user: s.user, password: s.password },
    verify: true,
    onReconnect: (e) => events.push(e),
  });
  const step = 1024 * 1024;
  for (let off = 0; off < data.length; off += step) {
    if (off === 16 * step) {
      await s.kill(); // writes are in flight (write-behind)
      setTimeout(() => void s.start(), 300);
    }
    await sink.pwrite(data.subarray(off, off + step), off);
  }
  const r = await sink.commit();
  t.ok(events.some((e) => e.ok), 'reconnected');
  t.equal(r.verifiedBytes, data.length);
  t.ok((await readFile(join(s.sharePath('share'), 'r.bin'))).equals(data), 'final file byte-identical');
  t.notOk((await readdir(s.sharePath('share'))).includes('r.bin.partial'));
});

t.test('server killed for good: clean typed failure, no final file', async (t) => {
  const s = await startSamba(t);
  const sink = await openWrite(s.url('share', 'gone.bin'), { credential: { user: s.user, password: s.password }, reconnectAttempts: 2 });
  await sink.pwrite(randomBytes(4 * 1024 * 1024), 0);
  await s.kill();
  let err: { code?: string } | undefined;
  try {
    for (let off = 4 * 1024 * 1024; off < 64 * 1024 * 1024; off += 1024 * 1024) await sink.pwrite(randomBytes(1024 * 1024), off);
    await sink.commit();
  } catch (e) {
    err = e as { code?: string };
  }
  await sink.close();
  t.match(err?.code, /^SMB_(RECONNECT_FAILED|CONNECT_FAILED|CONNECTION_LOST)$/, `typed error (${err?.code})`);
  await s.start();
  t.notOk((await readdir(s.sharePath('share'))).includes('gone.bin'), 'no final file');
});
