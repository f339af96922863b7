/**
 * Dialects, signing and encryption against smbd configured each way: the client must negotiate
 * what the server requires and move data intact.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSamba } from '../helpers/samba.js';
import { connectSmb, openRead, openWrite } from '../../network/smb/api.js';
import { Dialect } from '../../network/smb/packets/constants.js';
import type { SmbConnectOptions } from '../../network/smb/api.js';

interface Case {
  name: string;
  global?: Record<string, string>;
  shareExtra?: Record<string, string>;
  client?: SmbConnectOptions;
  dialect: string;
  signing: string | null;
  encryption: string | null;
}

const cases: Case[] = [
  { name: 'signing off (not required)', dialect: '3.1.1', signing: null, encryption: null },
  { name: 'signing required, 3.1.1 AES-GMAC', global: { 'server signing': 'mandatory' }, dialect: '3.1.1', signing: 'AES-GMAC', encryption: null },
  {
    name: 'signing required, 3.1.1 with AES-CMAC only',
    global: { 'server signing': 'mandatory', 'server smb3 signing algorithms': 'AES-128-CMAC' },
    dialect: '3.1.1',
    signing: 'AES-CMAC',
    encryption: null,
  },
  { name: 'signing asked by the client', client: { sign: true }, dialect: '3.1.1', signing: 'AES-GMAC', encryption: null },
  { name: 'SMB 3.0.2 only, signing required (AES-CMAC)', global: { 'server signing': 'mandatory', 'server max protocol': 'SMB3_02' }, dialect: '3.0.2', signing: 'AES-CMAC', encryption: null },
  { name: 'SMB 2.1 only (server max protocol), signing required (HMAC-SHA256)', global: { 'server signing': 'mandatory', 'server max protocol': 'SMB2_10' }, dialect: '2.1', signing: 'HMAC-SHA256', encryption: null },
  { name: 'SMB 3.1.1 only (server min protocol)', global: { 'server min protocol': 'SMB3_11' }, dialect: '3.1.1', signing: null, encryption: null },
  { name: 'encryption required globally (AES-128-GCM)', global: { 'server smb encrypt': 'required' }, dialect: '3.1.1', signing: null, encryption: 'AES-128-GCM' },
  {
    name: 'encryption required globally, AES-128-CCM only',
    global: { 'server smb encrypt': 'required', 'server smb3 encryption algorithms': 'AES-128-CCM' },
    dialect: '3.1.1',
    signing: null,
    encryption: 'AES-128-CCM',
  },
  { name: 'encryption required on the share only', shareExtra: { 'server smb encrypt': 'required' }, dialect: '3.1.1', signing: null, encryption: 'AES-128-GCM' },
  { name: 'encryption required, SMB 3.0 (AES-128-CCM)', global: { 'server smb encrypt': 'required', 'server max protocol': 'SMB3' }, client: { dialects: [Dialect.SMB3_0] }, dialect: '3.0', signing: null, encryption: 'AES-128-CCM' },
  { name: 'encryption asked by the client', client: { encrypt: true }, dialect: '3.1.1', signing: null, encryption: 'AES-128-GCM' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const s = await startSamba(t, { global: c.global, shares: [{ name: 'share', extra: c.shareExtra }] });
    const opts: SmbConnectOptions = { credential: { user: s.user, password: s.password }, ...c.client };
    const { client } = await connectSmb(s.url('share'), opts);
    t.same({ dialect: client.info.dialect, signing: client.info.signing, encryption: client.info.encryption }, { dialect: c.dialect, signing: c.signing, encryption: c.encryption });
    await client.disconnect();
    const data = randomBytes(2 * 1024 * 1024 + 3);
    const sink = await openWrite(s.url('share', 'f.bin'), { ...opts, verify: true, ioSize: 512 * 1024 });
    await sink.pwrite(data, 0);
    t.equal((await sink.commit()).verifiedBytes, data.length);
    t.ok((await readFile(join(s.sharePath('share'), 'f.bin'))).equals(data), 'file on the server is intact');
    const src = await openRead(s.url('share', 'f.bin'), opts);
    const back = Buffer.alloc(data.length);
    await src.pread(back, 0);
    await src.close();
    t.ok(back.equals(data), 'read back intact');
  });
}

t.test('client limited to SMB 2.1 against a 3.1.1-only server: typed error', async (t) => {
  const s = await startSamba(t, { global: { 'server min protocol': 'SMB3_11' } });
  const err = await connectSmb(s.url('share'), { credential: { user: s.user, password: s.password }, dialects: [Dialect.SMB2_1] }).catch((e) => e);
  t.match(err.code, /^SMB_/);
  t.not(err.code, 'INTERNAL');
});

t.test('encryption asked on an SMB 2.1 server: SMB_ENCRYPTION_UNSUPPORTED', async (t) => {
  const s = await startSamba(t, { global: { 'server max protocol': 'SMB2_10' } });
  await t.rejects(connectSmb(s.url('share'), { credential: { user: s.user, password: s.password }, encrypt: true }), { code: 'SMB_ENCRYPTION_UNSUPPORTED' });
});

t.test('server granting few credits: smaller I/O works, an impossible one is a typed error (no hang)', async (t) => {
  const s = await startSamba(t, { global: { 'smb2 max credits': '64' } });
  const cred = { credential: { user: s.user, password: s.password } };
  const data = randomBytes(3 * 1024 * 1024);
  const ok = await openWrite(s.url('share', 'ok.bin'), { ...cred, ioSize: 1024 * 1024 });
  await ok.pwrite(data, 0);
  await ok.commit();
  t.ok((await readFile(join(s.sharePath('share'), 'ok.bin'))).equals(data));
  const big = await openWrite(s.url('share', 'big.bin'), { ...cred, ioSize: 8 * 1024 * 1024 });
  const err = await big
    .pwrite(Buffer.alloc(8 * 1024 * 1024, 1), 0)
    .then(() => big.commit())
    .catch((e) => e);
  await big.close();
  t.equal(err.code, 'SMB_NO_CREDITS');
});
