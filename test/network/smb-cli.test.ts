/** `ce smb …` through the real CLI against smbd: output, exit codes, credentials handling. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startSamba } from '../helpers/samba.js';
import { tempDir } from '../helpers/tmp.js';
import { runCe } from '../helpers/cli.js';

const s = await startSamba(t, { global: { 'server smb encrypt': 'required' }, shares: [{ name: 'share' }, { name: 'tiny', dfree: { totalKiB: 2000, freeKiB: 100 } }] });
const env = { CE_SMB_PASSWORD: s.password };

function finalJson<T>(stdout: string): T {
  return JSON.parse(stdout.split('\n').filter((l) => !l.startsWith('{"event":"progress"')).join('\n')) as T;
}

t.test('put, ls, df, get, rm', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'in.bin');
  const data = randomBytes(3 * 1024 * 1024 + 1);
  await writeFile(src, data);
  const put = await runCe(['smb', 'put', src, s.url('share', 'out.bin'), '--json'], { env });
  t.equal(put.exitCode, 0, put.stderr);
  t.equal(finalJson<{ size: number }>(put.stdout).size, data.length);
  t.ok((await readFile(join(s.sharePath('share'), 'out.bin'))).equals(data));

  const again = await runCe(['smb', 'put', src, s.url('share', 'out.bin')], { env });
  t.equal(again.exitCode, 1);
  t.match(again.stderr, /SMB_OUTPUT_EXISTS/);

  const ls = await runCe(['smb', 'ls', s.url('share'), '--json'], { env });
  t.equal(ls.exitCode, 0, ls.stderr);
  const listing = JSON.parse(ls.stdout) as { dialect: string; entries: Array<{ name: string; size: number }> };
  t.same(listing.entries.map((e) => [e.name, e.size]), [['out.bin', data.length]]);

  const df = await runCe(['smb', 'df', s.url('share'), '--json'], { env });
  const dfj = JSON.parse(df.stdout) as { freeBytes: number; totalBytes: number; encryption: string };
  t.ok(dfj.freeBytes > 0 && dfj.totalBytes >= dfj.freeBytes);
  t.equal(dfj.encryption, 'AES-128-GCM');

  const out = join(dir, 'back.bin');
  const get = await runCe(['smb', 'get', s.url('share', 'out.bin'), out], { env });
  t.equal(get.exitCode, 0, get.stderr);
  t.ok((await readFile(out)).equals(data));

  const rm = await runCe(['smb', 'rm', s.url('share', 'out.bin')], { env });
  t.equal(rm.exitCode, 0, rm.stderr);
  t.notOk(existsSync(join(s.sharePath('share'), 'out.bin')), 'deleted');
});

t.test('credentials file: used when 0600, refused when group/world readable', async (t) => {
  const url = `smb://127.0.0.1:${s.port}/share`;
  const ok = await runCe(['smb', 'df', url, '--credentials-file', s.credentialsFile, '--json'], { env: {} });
  t.equal(ok.exitCode, 0, ok.stderr);
  const dir = await tempDir(t);
  const loose = join(dir, 'cred');
  await writeFile(loose, `username=${s.user}\npassword=${s.password}\n`);
  await chmod(loose, 0o644);
  const bad = await runCe(['smb', 'df', url, '--credentials-file', loose, '--json'], { env: {} });
  t.equal(bad.exitCode, 1);
  t.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'SMB_CREDENTIALS_FILE_MODE');
});

t.test('errors are typed, with hints, and never show the password', async (t) => {
  const wrong = await runCe(['smb', 'ls', s.url('share')], { env: { CE_SMB_PASSWORD: 'not-the-password' } });
  t.equal(wrong.exitCode, 1);
  t.match(wrong.stderr, /SMB_LOGON_FAILURE/);
  t.match(wrong.stderr, /hint:/);
  t.notMatch(wrong.stderr + wrong.stdout, /not-the-password/);
  const inUrl = await runCe(['smb', 'ls', `smb://${s.user}:${s.password}@127.0.0.1:${s.port}/share`], { env: {} });
  t.match(inUrl.stderr, /SMB_PASSWORD_IN_URL/);
  t.notMatch(inUrl.stderr + inUrl.stdout, new RegExp(s.password));
  const dir = await tempDir(t);
  const big = join(dir, 'big.bin');
  await writeFile(big, Buffer.alloc(1024 * 1024, 1));
  const full = await runCe(['smb', 'put', big, s.url('tiny', 'big.bin'), '--json'], { env });
  const err = (JSON.parse(full.stdout) as { error: { code: string; message: string; details: { freeBytes: number; neededBytes: number } } }).error;
  t.equal(err.code, 'SMB_NO_SPACE');
  t.same([err.details.freeBytes, err.details.neededBytes], [102400, 2 * 1024 * 1024]);
});

t.test('backends: kernel CIFS reported unavailable here', async (t) => {
  const r = await runCe(['smb', 'backends', '--json']);
  const j = JSON.parse(r.stdout) as { builtin: { available: boolean; aesGcm: string }; cifs: { available: boolean; reason?: string } };
  t.equal(j.builtin.available, true);
  t.match(j.builtin.aesGcm, /^native$|^node:crypto \(native AES-GCM .+\)$/, 'says which AES-GCM the client uses');
  t.equal(j.cifs.available, false);
  t.match(j.cifs.reason, /cifs/);
});
