/** `ce convert` to and from an SMB share through our SMB 3 client, against a real smbd; qemu-img is the oracle. */
import t from 'tap';
import { stat } from 'node:fs/promises';
import { runCe, json } from '../helpers/cli.js';
import { startSamba } from '../helpers/samba.js';
import { tempDir } from '../helpers/tmp.js';
import { makeSparseRaw, md5File, qemuCompare, qemuInfo } from '../helpers/disk-images.js';

t.test('raw → VHDX on a signing-required share with hash and verify, and back', async (t) => {
  const smb = await startSamba(t, { global: { 'server signing': 'mandatory' } });
  const dir = await tempDir(t);
  const src = `${dir}/src.raw`;
  await makeSparseRaw(src, 24 * 1024 * 1024 + 512 * 3, 12, 7);
  const srcMd5 = await md5File(src);
  const url = smb.url('share', 'images/disk.vhdx');
  await smb.smbclient('share', 'mkdir images');
  const up = await runCe(['convert', src, url, '--to', 'vhdx', '--hash', 'md5,sha256', '--verify', '--credentials-file', smb.credentialsFile, '--json']);
  t.equal(up.exitCode, 0, up.stderr + up.stdout);
  const result = JSON.parse(up.stdout.trim().split('\n').pop()!) as { output: { fileSize: number }; hashes: { md5: string } };
  const onShare = `${smb.sharePath('share')}/images/disk.vhdx`;
  t.equal((await stat(onShare)).size, result.output.fileSize, 'file size as reported');
  t.equal(result.hashes.md5, await md5File(onShare), 'hash of what was sent = md5 of the file on the share');
  t.equal((await qemuInfo(onShare)).format, 'vhdx');
  t.equal((await qemuCompare(src, 'raw', onShare, 'vhdx')).code, 0, 'qemu-img compare: identical content');
  await t.rejects(stat(`${onShare}.partial`), 'no partial file left');

  const again = await runCe(['convert', src, url, '--to', 'vhdx', '--credentials-file', smb.credentialsFile, '--json']);
  t.equal(json<{ error: { code: string } }>(again).error.code, 'SMB_OUTPUT_EXISTS', 'never overwrites unless asked');

  const back = `${dir}/back.raw`;
  const down = await runCe(['convert', url, back, '--to', 'raw', '--credentials-file', smb.credentialsFile]);
  t.equal(down.exitCode, 0, down.stderr);
  t.equal(await md5File(back), srcMd5, 'SMB source read back byte-identical');
});

t.test('no space on the share: SMB_NO_SPACE before writing, nothing left behind', async (t) => {
  const smb = await startSamba(t, { shares: [{ name: 'small', dfree: { totalKiB: 40 * 1024, freeKiB: 30 * 1024 } }] });
  const dir = await tempDir(t);
  const src = `${dir}/src.raw`;
  await makeSparseRaw(src, 20 * 1024 * 1024, 4, 3);
  const url = smb.url('small', 'disk.vhd');
  const r = await runCe(['convert', src, url, '--to', 'vhd', '--json'], { env: { CE_SMB_PASSWORD: smb.password } });
  const err = json<{ error: { code: string; message: string } }>(r).error;
  t.equal(err.code, 'SMB_NO_SPACE');
  t.match(err.message, /needs at least 2×/);
  const ls = await smb.smbclient('small', 'ls');
  t.notMatch(ls.stdout, /disk\.vhd/, 'neither the output nor a partial file');
});
