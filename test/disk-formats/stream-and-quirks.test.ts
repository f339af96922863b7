/**
 * Format quirks beyond the round trips: forward-only outputs on a non-seekable sink, a
 * streamOptimized VMDK with the GD at the start and no markers (XO's `_readL1` case, built here
 * from the spec), explicit zeros on request (no host-file holes), compression level option.
 */
import t from 'tap';
import { join } from 'node:path';
import { open, stat, writeFile, readFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { Sink } from '../../disk/types.js';
import { serializeSparseHeader, FLAG_COMPRESSED, FLAG_NL_DETECT } from '../../disk/vmdk/layout.js';
import { tempDir } from '../helpers/tmp.js';
import { MODULES, MiB, makeSparseRaw, openImage, openRaw, qemuImg, readToRaw, sameFile, writeWith } from './helpers.js';

/** A pipe-like sink: refuses any write that is not exactly at the current end. */
async function sequentialSink(path: string): Promise<Sink & { violations: number }> {
  const fh = await open(path, 'w');
  let end = 0;
  const s = {
    name: path, seekable: false, violations: 0,
    async pwrite(b: Buffer, p: number) {
      if (p !== end) s.violations++;
      await fh.write(b, 0, b.length, p);
      end = p + b.length;
    },
    async close() { await fh.close(); },
  };
  return s;
}

for (const [mod, target] of [[1, 'vmdk-stream'], [0, 'vhdx-fixed']] as const) {
  t.test(`${target} streams forward to a non-seekable sink`, async (t) => {
    const dir = await tempDir(t);
    const raw = join(dir, 'a.raw');
    await makeSparseRaw(raw, 40 * MiB + 512, 6);
    const out = join(dir, `a.${MODULES[mod].name}`);
    const sink = await sequentialSink(out);
    const src = await openRaw(raw);
    const w = MODULES[mod].writers.find((x) => x.target === target)!;
    t.equal(w.streamable, true);
    const res = await w.write(src, sink, { outputPath: out }, { inFlight: 8 });
    await sink.close();
    await src.close();
    t.equal(sink.violations, 0, 'every write at the current end');
    t.equal((await stat(out)).size, res.fileSize);
    const cmp = await qemuImg(['compare', '-f', 'raw', raw, out]);
    t.equal(cmp.exitCode, 0, cmp.stdout + cmp.stderr);
  });
}

t.test('non-streamable writers refuse a non-seekable sink with a typed error', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  await makeSparseRaw(raw, 2 * MiB, 1);
  for (const [mod, target, code] of [[0, 'vhdx', 'VHDX_SINK_NOT_SEEKABLE'], [1, 'vmdk', 'VMDK_SINK_NOT_SEEKABLE'], [2, 'qcow2', 'QCOW2_SINK_NOT_SEEKABLE']] as const) {
    const sink = await sequentialSink(join(dir, target));
    const src = await openRaw(raw);
    await t.rejects(MODULES[mod].writers.find((w) => w.target === target)!.write(src, sink, {}, {}), { code });
    await sink.close();
    await src.close();
  }
});

t.test('streamOptimized with the GD at the start and no markers (built from the spec) reads correctly', async (t) => {
  const dir = await tempDir(t);
  const grain = 65536;
  const content = Buffer.alloc(2 * MiB);
  randomBytes(grain).copy(content, 0);
  content.fill(0x42, 5 * grain, 6 * grain);
  randomBytes(1000).copy(content, 31 * grain + 100);
  const header = serializeSparseHeader({
    version: 3, flags: FLAG_NL_DETECT | FLAG_COMPRESSED, capacity: content.length / 512, grainSize: 128, descriptorOffset: 1,
    descriptorSize: 2, numGTEsPerGT: 512, rgdOffset: 0, gdOffset: 3, overHead: 8, compressAlgorithm: 1,
  });
  const desc = Buffer.alloc(1024);
  desc.write('# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="streamOptimized"\nRW 4096 SPARSE "x.vmdk"\n');
  const gd = Buffer.alloc(512);
  gd.writeUInt32LE(4, 0);
  const gt = Buffer.alloc(2048);
  const grains: Buffer[] = [];
  let sector = 8;
  for (const g of [0, 5, 31]) {
    const z = deflateSync(content.subarray(g * grain, (g + 1) * grain));
    const padded = Buffer.alloc(Math.ceil(z.length / 512) * 512);
    z.copy(padded);
    gt.writeUInt32LE(sector, g * 4);
    sector += padded.length / 512;
    grains.push(padded);
  }
  const img = join(dir, 'x.vmdk');
  await writeFile(img, Buffer.concat([header, desc, gd, gt, ...grains]));
  const d = await openImage(img);
  t.equal(d.subformat, 'streamOptimized');
  t.equal(d.describe().extra?.gdAtEnd, false);
  await readToRaw(d, join(dir, 'got.raw'));
  const blocks: number[] = [];
  for await (const b of d.blocks()) blocks.push(b);
  await d.close();
  t.same(blocks, [0, 5, 31]);
  t.ok((await readFile(join(dir, 'got.raw'))).equals(content), 'grains inflate to the content');
  const q = await qemuImg(['convert', '-O', 'raw', img, join(dir, 'q.raw')]);
  if (q.exitCode === 0) t.ok(await sameFile(join(dir, 'q.raw'), join(dir, 'got.raw')), 'qemu-img agrees');
  else t.comment(`qemu-img cannot read it: ${q.stderr}`);
});

t.test('extra.sparse: holes only when the engine allows them (local files); zeros written otherwise', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(16 * MiB);
  await fh.write(randomBytes(4096), 0, 4096, 0); // one page in block 0, the rest of the block zero
  await fh.close();
  for (const fill of [false, true]) {
    const out = join(dir, `f${fill}.vhdx`);
    const src = await openRaw(raw);
    await writeWith(MODULES[0], 'vhdx', src, out, { blockSize: 8 * MiB, extra: fill ? {} : { sparse: true } });
    await src.close();
    const st = await stat(out);
    const dataBlock = 8 * MiB;
    if (fill) t.ok(st.blocks * 512 >= 3 * MiB + dataBlock, `default: the 8 MiB block occupies disk space (${st.blocks * 512})`);
    else t.ok(st.blocks * 512 < 3 * MiB + dataBlock, `sparse: zeros inside the block are holes (${st.blocks * 512})`);
    t.equal((await qemuImg(['compare', '-f', 'raw', raw, out])).exitCode, 0);
  }
  // vhdx-fixed: zeros written by default (Hyper-V); holes only with extra.sparse.
  for (const fill of [undefined, false]) {
    const out = join(dir, `fixed-${fill}.vhdx`);
    const src = await openRaw(raw);
    await writeWith(MODULES[0], 'vhdx-fixed', src, out, { blockSize: 8 * MiB, extra: fill === false ? { sparse: true } : {} });
    await src.close();
    const st = await stat(out);
    if (fill === undefined) t.ok(st.blocks * 512 >= st.size - 64 * 1024, `vhdx-fixed default: no holes (${st.blocks * 512} of ${st.size})`);
    else t.ok(st.blocks * 512 < st.size / 2, `vhdx-fixed sparse: holes allowed (${st.blocks * 512} of ${st.size})`);
    t.equal((await qemuImg(['compare', '-f', 'raw', raw, out])).exitCode, 0);
  }
});

t.test('vmdk-stream: compression level is an option (9 is smaller than 1 on compressible data); bad level refused', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  const text = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(100000)).subarray(0, 4 * MiB);
  await writeFile(raw, text);
  const sizes: number[] = [];
  for (const level of [1, 9]) {
    const src = await openRaw(raw);
    const r = await writeWith(MODULES[1], 'vmdk-stream', src, join(dir, `l${level}.vmdk`), { compressionLevel: level });
    await src.close();
    sizes.push(r.fileSize);
    t.equal((await qemuImg(['compare', '-f', 'raw', raw, join(dir, `l${level}.vmdk`)])).exitCode, 0);
  }
  t.ok(sizes[1] <= sizes[0], `level 9 (${sizes[1]}) ≤ level 1 (${sizes[0]})`);
  const src = await openRaw(raw);
  await t.rejects(writeWith(MODULES[1], 'vmdk-stream', src, join(dir, 'bad.vmdk'), { compressionLevel: 12 }), { code: 'VMDK_OPTION_INVALID' });
  await src.close();
});

t.test('a writer that fails half-way leaves a file no reader takes for a valid image (magic written last)', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  await makeSparseRaw(raw, 24 * MiB, 12);
  for (const [m, target] of [[0, 'vhdx'], [0, 'vhdx-fixed'], [1, 'vmdk'], [1, 'vmdk-stream'], [2, 'qcow2']] as const) {
    const src = await openRaw(raw);
    let reads = 0;
    const failing = { ...src, read: (o: number, l: number, b?: Buffer) => (++reads > 5 ? Promise.reject(new Error('disk gone')) : src.read(o, l, b)) };
    const out = join(dir, `half-${target}`);
    await t.rejects(writeWith(MODULES[m], target, failing, out), /disk gone/, `${target}: the write fails`);
    await src.close();
    const head = (await readFile(out)).subarray(0, 8);
    t.notOk(MODULES[m].probe(head, Buffer.alloc(0), 1 << 30), `${target}: the half-written file does not probe as ${MODULES[m].name} (first bytes ${head.toString('hex', 0, 4)})`);
  }
});
