/**
 * Every writer of vhdx/vmdk/qcow2 against qemu-img (the oracle): random sparse raw images of
 * several sizes (block multiples, odd sizes, an empty disk) → our writer → `qemu-img compare`
 * with the source, `qemu-img check` clean, `qemu-img info` virtual size, and our own reader back.
 */
import t from 'tap';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { FileSink } from '../../disk/io/file.js';
import { tempDir } from '../helpers/tmp.js';
import { MODULES, MiB, makeSparseRaw, openImage, openRaw, qemuImg, readToRaw, sameFile, writeWith } from './helpers.js';

const SIZES: [string, number, number][] = [
  ['no data at all (zero-data disk, qemu gitlab #2532)', 10 * MiB, 0],
  ['odd 5 MiB + 3 sectors', 5 * MiB + 1536, 4],
  ['37 MiB + 1 sector (crosses a VMDK grain table and VHDX blocks)', 37 * MiB + 512, 10],
];

for (const mod of MODULES) {
  for (const w of mod.writers) {
    t.test(`${w.target}: raw → ${w.target} equals the source for qemu-img`, async (t) => {
      const dir = await tempDir(t);
      for (const [label, size, runs] of SIZES) {
        const raw = join(dir, `src-${size}.raw`);
        await makeSparseRaw(raw, size, runs);
        const out = join(dir, `out-${size}.${w.format}`);
        const src = await openRaw(raw);
        const res = await writeWith(mod, w.target, src, out, { outputPath: out, createSink: (n) => FileSink.open(join(dir, n)) });
        await src.close();
        t.equal((await stat(out)).size, res.fileSize, `${label}: fileSize reported`);

        const info = await qemuImg(['info', '--output=json', out]);
        t.equal(info.exitCode, 0, `${label}: qemu-img info opens it`);
        const j = JSON.parse(info.stdout);
        t.equal(j.format, w.format, `${label}: qemu-img sees ${w.format}`);
        t.equal(j['virtual-size'], size, `${label}: virtual size`);
        const chk = await qemuImg(['check', out]);
        t.equal(chk.exitCode, 0, `${label}: qemu-img check clean: ${chk.stdout}${chk.stderr}`);
        {
          const cmp = await qemuImg(['compare', '-f', 'raw', '-F', w.format, raw, out]);
          t.equal(cmp.exitCode, 0, `${label}: qemu-img compare: ${cmp.stdout}${cmp.stderr}`);
        }
        const d = await openImage(out);
        t.equal(d.format, w.format);
        t.equal(d.subformat, w.subformat, `${label}: our reader sees ${w.subformat}`);
        await readToRaw(d, join(dir, 'back.raw'));
        await d.close();
        t.ok(await sameFile(raw, join(dir, 'back.raw')), `${label}: our reader returns the source bytes`);
      }
    });
  }
}

t.test('vmdk-stream: header says v3, compressed with markers, GD at end; file ends with footer + EOS', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  await makeSparseRaw(raw, 3 * MiB, 2);
  const out = join(dir, 'a.vmdk');
  const src = await openRaw(raw);
  await writeWith(MODULES[1], 'vmdk-stream', src, out, { outputPath: out });
  await src.close();
  const { readFile } = await import('node:fs/promises');
  const b = await readFile(out);
  t.equal(b.toString('latin1', 0, 4), 'KDMV');
  t.equal(b.readUInt32LE(4), 3, 'version 3 (ESXi rejects lower)');
  t.equal(b.readUInt32LE(8) & 0x30000, 0x30000, 'compressed + markers');
  t.equal(b.readBigUInt64LE(56), 0xffffffffffffffffn, 'GD_AT_END in the header');
  t.ok(b.subarray(b.length - 512).equals(Buffer.alloc(512)), 'EOS marker last');
  t.equal(b.readUInt32LE(b.length - 1536 + 12), 3, 'footer marker');
  t.equal(b.toString('latin1', b.length - 1024, b.length - 1020), 'KDMV', 'footer header');
  const desc = b.toString('utf8', 512, 512 * 21);
  t.match(desc, /createType="streamOptimized"/);
  const cid = /CID=([0-9a-f]{8})/.exec(desc)?.[1];
  t.ok(cid && cid !== 'ffffffff' && cid !== 'fffffffe', 'CID is random and never ffffffff/fffffffe');
  t.match(desc, /parentCID=ffffffff/);
  t.match(desc, /RW 6144 SPARSE "a.vmdk"/);
});

t.test('zero-size disks: qcow2 writes one, VHDX and VMDK refuse with a typed error', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'zero.raw');
  await makeSparseRaw(raw, 0, 0);
  for (const mod of MODULES) {
    for (const w of mod.writers) {
      const src = await openRaw(raw);
      const out = join(dir, `zero-${w.target}`);
      const p = writeWith(mod, w.target, src, out, { outputPath: out, createSink: (n) => FileSink.open(join(dir, n)) });
      if (w.format === 'qcow2') {
        await p;
        t.equal((await qemuImg(['check', out])).exitCode, 0, 'qcow2 of 0 bytes is clean');
      } else await t.rejects(p, { code: `${w.format.toUpperCase()}_SIZE_ZERO` }, `${w.target} refuses 0 bytes`);
      await src.close();
    }
  }
});
