/**
 * Bulk I/O on an encrypted session (large WRITEs encrypted by the worker thread, small requests
 * in-thread, all on one socket in order): put with --verify and get of a 40 MiB file of random
 * data while other requests run on the same connection, then a byte-for-byte comparison.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSamba } from '../helpers/samba.js';
import { tempDir } from '../helpers/tmp.js';
import { connectSmb, openRead, openWrite } from '../../network/smb/api.js';
import { putFile, getFile } from '../../network/smb/transfer.js';

const s = await startSamba(t, { global: { 'server smb encrypt': 'required' } });
const cred = { credential: { user: s.user, password: s.password } };

t.test('40 MiB put (verify) and get, with small requests interleaved', async (t) => {
  const dir = await tempDir(t);
  const data = randomBytes(40 * 1024 * 1024 + 12345);
  const local = join(dir, 'src.bin');
  await writeFile(local, data);

  const { client } = await connectSmb(s.url('share'), cred);
  t.equal(client.info.encryption, 'AES-128-GCM');
  let stop = false;
  const chatter = (async () => {
    let n = 0;
    while (!stop) {
      await client.fsSize();
      n++;
    }
    return n;
  })();
  const put = await putFile(local, s.url('share', 'big.bin'), { ...cred, verify: true }, openWrite);
  t.equal(put.verified, true);
  t.equal(put.size, data.length);
  t.ok((await readFile(join(s.sharePath('share'), 'big.bin'))).equals(data), 'file on the server is intact');

  // Small writes through the sink's copying path (pooled shared buffers, 1 MiB requests).
  const sink = await openWrite(s.url('share', 'small.bin'), { ...cred, ioSize: 1024 * 1024, verify: true });
  for (let off = 0; off < 5 * 1024 * 1024; off += 300_000) await sink.pwrite(data.subarray(off, off + 300_000), off);
  t.equal((await sink.commit()).verified, true);

  const back = join(dir, 'back.bin');
  await getFile(s.url('share', 'big.bin'), back, cred, openRead);
  t.ok((await readFile(back)).equals(data), 'read back intact');
  stop = true;
  t.ok((await chatter) > 0, 'other requests ran meanwhile');
  await client.disconnect();
});
