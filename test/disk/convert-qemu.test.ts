/**
 * Round trips checked by qemu-img (the oracle): random sparse raw images of several sizes (not
 * block multiples, and an empty disk) → ce convert → qemu-img compare with the source, qemu-img
 * info opens the output with the exact virtual size; hashes computed while streaming equal
 * md5sum of the output; the source is never modified.
 */
import t from 'tap';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { tempDir } from '../helpers/tmp.js';
import { makeSparseRaw, md5File, qemuCompare, qemuInfo } from '../helpers/disk-images.js';
import { convert } from '../../disk/convert/engine.js';

const MiB = 1 << 20;
const SIZES: Array<[string, number, number]> = [
  ['empty disk (no data)', 8 * MiB, 0],
  ['1 MiB + 512 (partial 2 MiB block)', MiB + 512, 3],
  ['7 MiB - 512', 7 * MiB - 512, 5],
  ['33 MiB + 1536', 33 * MiB + 1536, 12],
];
const QEMU_FMT: Record<string, string> = { vhd: 'vpc', 'vhd-fixed': 'vpc', raw: 'raw' };

for (const [label, size, runs] of SIZES) {
  t.test(`raw ${label}`, async (t) => {
    const dir = await tempDir(t);
    const src = join(dir, 'src.raw');
    await makeSparseRaw(src, size, runs, size);
    const before = await md5File(src);
    for (const to of ['vhd', 'vhd-fixed', 'raw']) {
      const dst = join(dir, `out.${to}`);
      const r = await convert(src, dst, { to, hash: ['md5', 'sha256'] });
      const cmp = await qemuCompare(src, 'raw', dst, QEMU_FMT[to]!);
      t.equal(cmp.code, 0, `${to}: qemu-img compare: ${cmp.out.trim()}`);
      const info = await qemuInfo(dst, QEMU_FMT[to]);
      t.equal(info['virtual-size'], size, `${to}: qemu-img reads the exact virtual size`);
      t.equal(r.output.fileSize, (await stat(dst)).size, `${to}: reported file size`);
      t.equal(r.hashes?.md5, await md5File(dst), `${to}: md5 while writing = md5sum of the output (${r.hashMode})`);
      if (to === 'vhd-fixed') t.equal(r.output.fileSize, size + 512, 'fixed VHD file = size + 512');
      // Back to raw with ce: identical to the source.
      const back = join(dir, `back-${to}.raw`);
      const rb = await convert(dst, back, { to: 'raw', hash: ['md5'] });
      t.equal(rb.hashes?.md5, before, `${to} → raw: md5 of the raw content equals the source's`);
    }
    t.equal(await md5File(src), before, 'the source is unchanged');
  });
}

t.test('qemu-img check accepts our dynamic VHD via a qcow2 round trip', async (t) => {
  // qemu-img check has no vpc support; converting our VHD with qemu-img and checking the qcow2 result
  // proves qemu reads every block of it.
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 21 * MiB, 8, 7);
  await convert(src, join(dir, 'o.vhd'), { to: 'vhd' });
  const { runTool } = await import('../../core/tools.js');
  await runTool('qemu-img', ['convert', '-f', 'vpc', '-O', 'qcow2', join(dir, 'o.vhd'), join(dir, 'o.qcow2')]);
  const chk = await runTool('qemu-img', ['check', join(dir, 'o.qcow2')], { allowFailure: true });
  t.equal(chk.exitCode, 0, chk.stdout);
  t.equal((await qemuCompare(src, 'raw', join(dir, 'o.qcow2'), 'qcow2')).code, 0);
});
