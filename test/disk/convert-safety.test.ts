/**
 * Safety of conversions: the output appears only when complete (<dst>.partial + rename); a
 * failure or a cancel removes the partial file; --resume keeps it with its state file and a
 * later --resume continues from the last committed block to an identical result.
 */
import t from 'tap';
import { join } from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import { tempDir } from '../helpers/tmp.js';
import { makeSparseRaw, md5File, qemuCompare } from '../helpers/disk-images.js';
import { convert } from '../../disk/convert/engine.js';

const MiB = 1 << 20;

t.test('cancel removes the partial output; the source is unchanged', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 48 * MiB, 30, 3);
  const before = await md5File(src);
  for (const to of ['vhd', 'vhd-fixed', 'raw']) {
    const ac = new AbortController();
    await t.rejects(
      convert(src, join(dir, `out.${to}`), { to, signal: ac.signal, inFlight: 1, progressIntervalMs: 0, onProgress: (p) => p.bytesDone > 0 && ac.abort() }),
      { code: 'CANCELLED' },
      `${to}: cancelled`,
    );
    t.same(await readdir(dir), ['src.raw'], `${to}: no output, no partial, no state file`);
  }
  t.equal(await md5File(src), before);
});

t.test('an existing output is refused without --overwrite, and kept intact', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 4 * MiB, 2, 4);
  await convert(src, join(dir, 'o.vhd'), { to: 'vhd' });
  const sum = await md5File(join(dir, 'o.vhd'));
  await t.rejects(convert(src, join(dir, 'o.vhd'), { to: 'vhd' }), { code: 'OUTPUT_EXISTS' });
  t.equal(await md5File(join(dir, 'o.vhd')), sum);
  await convert(src, join(dir, 'o.vhd'), { to: 'vhd', overwrite: true });
  t.same((await readdir(dir)).sort(), ['o.vhd', 'src.raw']);
});

t.test('a failing source removes the partial (truncated VHD)', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 6 * MiB, 4, 5);
  await convert(src, join(dir, 'd.vhd'), { to: 'vhd' });
  const { truncate } = await import('node:fs/promises');
  await truncate(join(dir, 'd.vhd'), (await stat(join(dir, 'd.vhd'))).size - 4 * MiB);
  await t.rejects(convert(join(dir, 'd.vhd'), join(dir, 'x.raw'), { to: 'raw' }), { code: 'VHD_BAT_ENTRY_PAST_EOF' });
  t.notOk((await readdir(dir)).some((f) => f.startsWith('x.raw')), 'nothing left behind');
});

t.test('resume: interrupted with --resume, continued from the last commit, identical output', async (t) => {
  process.env.CE_CONVERT_COMMIT_BYTES = String(4 * MiB);
  t.teardown(() => {
    delete process.env.CE_CONVERT_COMMIT_BYTES;
  });
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 40 * MiB, 40, 6);
  for (const to of ['vhd', 'vhd-fixed', 'raw']) {
    const dst = join(dir, `r.${to}`);
    const ac = new AbortController();
    await t.rejects(
      convert(src, dst, { to, resume: true, inFlight: 1, progressIntervalMs: 0, signal: ac.signal, onProgress: (p) => p.bytesDone > 20 * MiB && ac.abort() }),
      { code: 'CANCELLED' },
    );
    const files = await readdir(dir);
    t.ok(files.includes(`r.${to}.partial`) && files.includes(`r.${to}.partial.state`), `${to}: partial and state kept for --resume`);
    const r = await convert(src, dst, { to, resume: true, hash: ['md5'] });
    t.ok((r.resumedFrom ?? 0) > 0, `${to}: resumed from ${r.resumedFrom}`);
    t.equal(r.hashes?.md5, await md5File(dst), `${to}: hash of the resumed output (read back)`);
    t.equal((await qemuCompare(src, 'raw', dst, to === 'raw' ? 'raw' : 'vpc')).code, 0, `${to}: qemu-img compare after resume`);
    t.notOk((await readdir(dir)).some((f) => f.includes('.partial')), `${to}: partial and state gone`);
  }
});

t.test('resume: a state file without its partial output is ignored (start over)', async (t) => {
  process.env.CE_CONVERT_COMMIT_BYTES = String(4 * MiB);
  t.teardown(() => {
    delete process.env.CE_CONVERT_COMMIT_BYTES;
  });
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 24 * MiB, 20, 9);
  const dst = join(dir, 'x.vhd');
  const ac = new AbortController();
  await t.rejects(convert(src, dst, { to: 'vhd', resume: true, inFlight: 1, progressIntervalMs: 0, signal: ac.signal, onProgress: (p) => p.bytesDone > 12 * MiB && ac.abort() }), { code: 'CANCELLED' });
  const { rm: rmf } = await import('node:fs/promises');
  await rmf(`${dst}.partial`);
  const r = await convert(src, dst, { to: 'vhd', resume: true });
  t.equal(r.resumedFrom, undefined, 'started over');
  t.equal((await qemuCompare(src, 'raw', dst, 'vpc')).code, 0);
});
