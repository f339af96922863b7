/** `check()` of each module: clean on our outputs, typed problems on overlapping tables. */
import t from 'tap';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { tempDir } from '../helpers/tmp.js';
import { MODULES, MiB, makeSparseRaw, openImage, openRaw, writeWith } from './helpers.js';

t.test('check: clean outputs, then a duplicated block/grain/cluster pointer is reported', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  await makeSparseRaw(raw, 4 * MiB, 0);
  const { open } = await import('node:fs/promises');
  const fh = await open(raw, 'r+');
  await fh.write(Buffer.alloc(MiB, 7), 0, MiB, 0);
  await fh.write(Buffer.alloc(MiB, 9), 0, MiB, 2 * MiB);
  await fh.close();
  const cases: [number, string, string, (b: Buffer) => void][] = [
    // VHDX (1 MiB blocks): BAT entry of block 2 := block 0's.
    [0, 'vhdx', 'VHDX_BAT_OVERLAP', (b) => b.writeBigUInt64LE(b.readBigUInt64LE(3 * MiB), 3 * MiB + 16)],
    // VMDK: GTE of the grain at 2 MiB (grain 32) := grain 0's, in both GT copies (GD first: sector 21 + 1 → RGT at 22).
    [1, 'vmdk', 'VMDK_GRAIN_OVERLAP', (b) => {
      const gd = Number(b.readBigUInt64LE(56)) * 512;
      const gt = b.readUInt32LE(gd) * 512;
      b.writeUInt32LE(b.readUInt32LE(gt), gt + 32 * 4);
    }],
    // qcow2: L2 entry of cluster 32 := cluster 0's (L2 table at 128 KiB in our layout).
    [2, 'qcow2', 'QCOW2_CLUSTER_OVERLAP', (b) => b.writeBigUInt64BE(b.readBigUInt64BE(131072), 131072 + 32 * 8)],
  ];
  for (const [m, target, code, damage] of cases) {
    const out = join(dir, `a.${target}`);
    const src = await openRaw(raw);
    await writeWith(MODULES[m], target, src, out, { blockSize: target === 'vhdx' ? MiB : undefined });
    await src.close();
    let d = await openImage(out);
    t.same(await MODULES[m].check!(d), [], `${target}: our output checks clean`);
    await d.close();
    const b = await readFile(out);
    damage(b);
    const bad = join(dir, `bad.${target}`);
    await writeFile(bad, b);
    d = await openImage(bad);
    const problems = await MODULES[m].check!(d);
    await d.close();
    t.ok(problems.some((p) => p.code === code && p.severity === 'error'), `${target}: ${code} reported`);
  }
});
