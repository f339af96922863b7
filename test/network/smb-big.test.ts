/**
 * A 1 GiB image (mostly zeros with random runs, so it stays fast) written with `ce smb put`
 * (signing required, --verify: our own read-back of all 1 GiB), then fetched with `smbclient get`
 * and compared with `cmp`. (`ce smb get` is covered by smb-cli.test.ts.)
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { startSamba } from '../helpers/samba.js';
import { tempDir } from '../helpers/tmp.js';
import { existsSync } from 'node:fs';
import { runCe } from '../helpers/cli.js';

/** The result document of `ce … --json` after its progress lines. */
function finalJson<T>(stdout: string): T {
  return JSON.parse(stdout.split('\n').filter((l) => !l.startsWith('{"event":"progress"')).join('\n')) as T;
}

t.test('1 GiB put --verify → smbclient get → cmp', async (t) => {
  // Memory-backed temp files when available: 2 GiB of disk writes would dominate the test.
  if (!process.env.CE_TEST_TMP && existsSync('/dev/shm')) process.env.CE_TEST_TMP = '/dev/shm';
  const s = await startSamba(t, { global: { 'server signing': 'mandatory' } });
  const dir = await tempDir(t);
  const local = join(dir, 'image.raw');
  const GiB = 1024 * 1024 * 1024;
  const fh = await open(local, 'w');
  await fh.truncate(GiB);
  // Random runs at scattered, unaligned offsets, including the first and last bytes.
  const runs: Array<[number, number]> = [
    [0, 3 * 1024 * 1024 + 11],
    [100 * 1024 * 1024 + 4097, 5 * 1024 * 1024],
    [512 * 1024 * 1024 - 1000, 2000],
    [800 * 1024 * 1024, 16 * 1024 * 1024],
    [GiB - 70_000, 70_000],
  ];
  for (const [pos, len] of runs) await fh.write(randomBytes(len), 0, len, pos);
  await fh.close();

  const env = { CE_SMB_PASSWORD: s.password };
  const put = await runCe(['smb', 'put', local, s.url('share', 'image.raw'), '--verify', '--json'], { env });
  t.equal(put.exitCode, 0, put.stderr + put.stdout.slice(-500));
  const result = finalJson<{ size: number; verified: boolean; bytesPerSecond: number }>(put.stdout);
  t.comment(`put: ${Math.round(result.bytesPerSecond / 1e6)} MB/s (zeros skipped)`);
  t.equal(result.size, GiB);
  t.equal(result.verified, true);
  t.notMatch(put.stdout + put.stderr, new RegExp(s.password), 'password never printed');

  const viaSmbclient = join(dir, 'smbclient.raw');
  const g = await s.smbclient('share', `get image.raw ${viaSmbclient}`);
  t.equal(g.exitCode, 0, g.stderr);
  t.equal((await execa('cmp', [local, viaSmbclient], { reject: false })).exitCode, 0, 'smbclient get: byte-identical');
});
