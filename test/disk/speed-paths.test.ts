/**
 * The fast paths of the converter keep the bytes right: page-aligned pooled buffers, the reused
 * zlib context for VMDK grains, flat-writer run planning, and the hole skipping of sparse image
 * files (a qemu-made VHDX whose blocks have holes) — qemu-img is the oracle.
 */
import t from 'tap';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { runCe } from '../helpers/cli.js';
import { execa } from 'execa';
import { AlignedPool, alignedBuffers } from '../../disk/io/aligned.js';
import { GrainInflater } from '../../disk/vmdk/grain-inflater.js';
import { dataRuns } from '../../disk/raw/writer.js';
import { openDisk } from '../../disk/open.js';
import { candidateUnits } from '../../disk/format-kit/source-units.js';

const MiB = 1 << 20;

t.test('aligned buffers: 4 KiB multiples in one mapping, pool reuse, foreign buffers ignored', async (t) => {
  const bufs = alignedBuffers(5000, 3);
  t.equal(bufs.length, 3);
  t.same(bufs.map((b) => b.byteOffset % 4096), [0, 0, 0]);
  t.equal(bufs[0]!.buffer, bufs[2]!.buffer);
  t.ok(bufs.every((b) => b.length === 5000 && b.every((x) => x === 0)));
  const pool = new AlignedPool(MiB, 2, 4);
  const a = pool.get();
  pool.put(a.subarray(0, 10)); // a shorter view from its start comes back whole
  const again = pool.get();
  t.equal(again.length, MiB);
  t.equal(again.byteOffset, a.byteOffset);
  pool.put(Buffer.alloc(MiB)); // not from this pool
  const b = pool.get();
  const c = pool.get();
  t.not(b.buffer, undefined);
  t.ok(c.byteOffset % 4096 === 0);
});

t.test('grain inflater: in place, short grains, and typed failures (oversize, truncated, garbage)', async (t) => {
  const G = 64 * 1024;
  const gi = new GrainInflater(G);
  const data = randomBytes(G);
  const out = Buffer.alloc(G);
  t.equal(gi.inflateInto(zlib.deflateSync(data), out), G);
  t.ok(out.equals(data));
  t.equal(gi.inflateInto(zlib.deflateSync(data.subarray(0, 1000)), out), 1000);
  t.throws(() => gi.inflateInto(zlib.deflateSync(Buffer.concat([data, data.subarray(0, 1)])), out), /more than/);
  t.throws(() => gi.inflateInto(zlib.deflateSync(data).subarray(0, 4000), out), /unexpected end/);
  t.throws(() => gi.inflateInto(Buffer.from('not a zlib stream'), out));
  t.equal(gi.inflateInto(zlib.deflateSync(data), out), G, 'usable after errors');
  t.ok(out.equals(data));
});

t.test('flat writer runs: contiguous flagged units, never across a step boundary', async (t) => {
  const flags = Uint8Array.from([1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1]);
  t.same([...dataRuns(flags, 0, 2)], [[0, 2], [2, 1], [4, 1], [7, 1], [8, 2], [10, 2]]);
  t.same([...dataRuns(flags, 4, 4)], [[4, 1], [7, 1], [8, 4]]);
  t.same([...dataRuns(new Uint8Array(5), 0, 2)], []);
});

t.test('a qemu-made VHDX with holes inside its blocks: holes are not planned, conversions stay exact', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(24 * MiB + 512);
  // Data at 1 MiB and 9.5 MiB; everything else (including most of each 8 MiB block) is a hole.
  await fh.write(randomBytes(MiB), 0, MiB, MiB);
  await fh.write(randomBytes(MiB / 2 + 4096), 0, MiB / 2 + 4096, 9.5 * MiB);
  await fh.close();
  const vhdx = join(dir, 'src.vhdx');
  await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=8M', raw, vhdx]);
  const d = await openDisk(vhdx);
  try {
    const flags = await candidateUnits(d, MiB, d.virtualSize);
    t.equal(flags[1], 1, 'the data unit is planned');
    t.equal(flags[0], 0, 'a hole unit of an allocated block is not');
    t.equal(flags[9], 1);
    t.equal(flags[10], 1, 'a unit with 4 KiB of data is planned');
  } finally {
    await d.close();
  }
  // qemu probes a fixed VHD as raw (footer only at the end): name every output format.
  for (const [to, fmt] of [['raw', 'raw'], ['vhd', 'vpc'], ['vhd-fixed', 'vpc'], ['vhdx', 'vhdx']] as const) {
    const out = join(dir, `out-${to}`);
    const r = await runCe(['convert', vhdx, out, '--to', to, '--json']);
    t.equal(r.exitCode, 0, `${to}: ${r.stderr}`);
    const cmp = await execa('qemu-img', ['compare', '-f', 'raw', '-F', fmt, raw, out], { reject: false });
    t.equal(cmp.exitCode, 0, `${to}: qemu-img compare: ${cmp.stdout}`);
  }
  t.ok((await readFile(join(dir, 'out-raw'))).equals(await readFile(raw)), 'raw output byte-identical');
});

t.test('qemu-made VHDs (dynamic, and fixed as a sparse file): their holes are not planned, conversions stay exact', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(12 * MiB);
  // Data in the second MiB of block 0 and a 4 KiB piece in block 2; the rest holes.
  await fh.write(randomBytes(MiB), 0, MiB, MiB);
  await fh.write(randomBytes(4096), 0, 4096, 4.5 * MiB);
  await fh.close();
  for (const sub of ['dynamic', 'fixed']) {
    const vhd = join(dir, `src-${sub}.vhd`);
    await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', `subformat=${sub},force_size=on`, raw, vhd]);
    const d = await openDisk(vhd);
    try {
      const flags = await candidateUnits(d, MiB, d.virtualSize);
      // A unit next to metadata can share a file page with it and count as data (dynamic: the
      // sector bitmap before block 0, the footer after the last block; fixed: the 4 KiB qemu
      // writes at the start of a new image file): units 0 and 5 may go either way.
      t.same([flags[1], flags[4]], [1, 1], `${sub}: the units with data are planned`);
      t.same([flags[2], flags[3], ...flags.subarray(6)], Array(8).fill(0), `${sub}: the hole units are not`);
    } finally {
      await d.close();
    }
    for (const [to, fmt] of [['raw', 'raw'], ['vhdx', 'vhdx']] as const) {
      const out = join(dir, `out-${sub}-${to}`);
      const r = await runCe(['convert', vhd, out, '--to', to, '--json']);
      t.equal(r.exitCode, 0, `${sub} → ${to}: ${r.stderr}`);
      const cmp = await execa('qemu-img', ['compare', '-f', 'raw', '-F', fmt, raw, out], { reject: false });
      t.equal(cmp.exitCode, 0, `${sub} → ${to}: qemu-img compare: ${cmp.stdout}`);
    }
  }
});

t.test('pre-sizing never makes a no-holes output sparse (--preset hyperv, --no-sparse)', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(12 * MiB);
  await fh.write(randomBytes(MiB), 0, MiB, 5 * MiB);
  await fh.close();
  const cases: [string, string[]][] = [
    ['hyperv.vhdx', ['--preset', 'hyperv']],
    ['plain.raw', ['--to', 'raw', '--no-sparse']],
    ['fixed.vhd', ['--to', 'vhd-fixed', '--no-sparse']],
  ];
  for (const [name, args] of cases) {
    const out = join(dir, name);
    const r = await runCe(['convert', raw, out, ...args, '--json']);
    t.equal(r.exitCode, 0, `${name}: ${r.stderr}`);
    const st = await stat(out);
    t.ok(st.blocks * 512 >= st.size, `${name}: every byte allocated (${st.blocks * 512} ≥ ${st.size})`);
  }
  // And the default for a local file stays sparse (what the pre-sizing is for).
  const sparse = join(dir, 'sparse.raw');
  t.equal((await runCe(['convert', raw, sparse, '--to', 'raw', '--json'])).exitCode, 0);
  const st = await stat(sparse);
  t.ok(st.blocks * 512 < st.size, 'default local raw output keeps its holes');
});
