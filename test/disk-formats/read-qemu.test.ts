/**
 * Our readers against images made by qemu-img in every subformat: our read of the whole disk must
 * equal `qemu-img convert -O raw` of the same image.
 */
import t from 'tap';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { MiB, makeSparseRaw, openImage, qemuImg, readToRaw, sameFile } from './helpers.js';

const CASES: { name: string; fmt: string; opts: string[]; expect: [string, string] }[] = [
  { name: 'vhdx dynamic (QEMU default block size)', fmt: 'vhdx', opts: [], expect: ['vhdx', 'dynamic'] },
  { name: 'vhdx dynamic, 1 MiB blocks', fmt: 'vhdx', opts: ['-o', 'block_size=1M'], expect: ['vhdx', 'dynamic'] },
  { name: 'vhdx fixed', fmt: 'vhdx', opts: ['-o', 'subformat=fixed'], expect: ['vhdx', 'fixed'] },
  { name: 'vmdk monolithicSparse', fmt: 'vmdk', opts: [], expect: ['vmdk', 'monolithicSparse'] },
  { name: 'vmdk streamOptimized (GD at start, markers, footer)', fmt: 'vmdk', opts: ['-o', 'subformat=streamOptimized'], expect: ['vmdk', 'streamOptimized'] },
  { name: 'vmdk monolithicFlat', fmt: 'vmdk', opts: ['-o', 'subformat=monolithicFlat'], expect: ['vmdk', 'monolithicFlat'] },
  { name: 'qcow2 v2 (compat=0.10)', fmt: 'qcow2', opts: ['-o', 'compat=0.10'], expect: ['qcow2', 'v2'] },
  { name: 'qcow2 v3', fmt: 'qcow2', opts: [], expect: ['qcow2', 'v3'] },
  { name: 'qcow2 v3 compressed (-c)', fmt: 'qcow2', opts: ['-c'], expect: ['qcow2', 'v3'] },
  { name: 'qcow2 v2 compressed, 4 KiB clusters', fmt: 'qcow2', opts: ['-c', '-o', 'compat=0.10,cluster_size=4096'], expect: ['qcow2', 'v2'] },
];

t.test('images made by qemu-img read like qemu-img convert -O raw', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'src.raw');
  await makeSparseRaw(raw, 21 * MiB + 3 * 512, 8);
  for (const [i, c] of CASES.entries()) {
    const img = join(dir, `img${i}.${c.fmt}`);
    const conv = await qemuImg(['convert', '-f', 'raw', '-O', c.fmt, ...c.opts, raw, img]);
    t.equal(conv.exitCode, 0, `${c.name}: made by qemu-img ${conv.stderr}`);
    const expected = join(dir, `exp${i}.raw`);
    t.equal((await qemuImg(['convert', '-O', 'raw', img, expected])).exitCode, 0);
    const d = await openImage(img);
    t.same([d.format, d.subformat], c.expect, `${c.name}: detected`);
    await readToRaw(d, join(dir, `got${i}.raw`));
    await d.close();
    t.ok(await sameFile(expected, join(dir, `got${i}.raw`)), `${c.name}: same bytes as qemu-img`);
  }
});

t.test('qcow2: backing file chain, zero clusters (v3 flag) and unallocated clusters', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'base.raw');
  await makeSparseRaw(raw, 8 * MiB, 6);
  const base = join(dir, 'base.qcow2');
  t.equal((await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, base])).exitCode, 0);
  const top = join(dir, 'top.qcow2');
  t.equal((await qemuImg(['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top])).exitCode, 0);
  // Data over the parent, and zero clusters hiding the parent's data (v3 zero flag).
  const io = await import('execa').then(({ execa }) => execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 1M 192k', '-c', 'write -z 3M 1M', '-c', 'write -P 0x5a 7M 4k', top], { reject: false }));
  t.equal(io.exitCode, 0, `qemu-io wrote: ${io.stderr}`);
  const expected = join(dir, 'exp.raw');
  t.equal((await qemuImg(['convert', '-O', 'raw', top, expected])).exitCode, 0);
  const d = await openImage(top);
  t.equal(d.parent?.format, 'qcow2', 'parent opened through openRelated');
  t.same(d.describe().parentChain, ['base.qcow2']);
  await readToRaw(d, join(dir, 'got.raw'));
  const blocks: number[] = [];
  for await (const b of d.blocks()) blocks.push(b);
  await d.close();
  t.ok(await sameFile(expected, join(dir, 'got.raw')), 'chain reads like qemu-img');
  t.ok(blocks.length > 0 && blocks.every((b, i) => i === 0 || b > blocks[i - 1]), 'blocks() ascending, parent merged');
});
