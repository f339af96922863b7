/**
 * Differencing VHDs. qemu-img cannot create them ("Backing file not supported for file format
 * 'vpc'") and ignores sector bitmaps when reading, so the fixtures are built by hand from the spec
 * (disk/vhd/make-differencing.ts) and verified by a raw round trip against the expected bytes.
 */
import t from 'tap';
import { join } from 'node:path';
import { readFile, rename } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tempDir } from '../helpers/tmp.js';
import { makeSparseRaw, qemuCompare } from '../helpers/disk-images.js';
import { convert } from '../../disk/convert/engine.js';
import { createDifferencingVhd, type DiffOptions, type DiffWrite } from '../../disk/vhd/make-differencing.js';
import { openDisk } from '../../disk/open.js';
import { describeImage } from '../../disk/describe.js';

const MiB = 1 << 20;

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const praw = join(dir, 'parent.raw');
  await makeSparseRaw(praw, 9 * MiB, 0);
  // Parent data in blocks 0, 1 and 3 (2 MiB blocks); block 2 and 4 unallocated.
  const fill = await readFile(praw);
  randomBytes(2 * MiB).copy(fill, 0);
  randomBytes(2 * MiB).copy(fill, 2 * MiB);
  randomBytes(MiB).copy(fill, 6 * MiB + 4096);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(praw, fill);
  await convert(praw, join(dir, 'parent.vhd'), { to: 'vhd' });
  return { dir, expected: fill };
}

function apply(expected: Buffer, writes: DiffWrite[]): Buffer {
  const out = Buffer.from(expected);
  for (const w of writes) w.data.copy(out, w.offset);
  return out;
}

t.test('sector bitmaps: child sectors over parent data, zeros over data, parent-only blocks', async (t) => {
  const { dir, expected } = await setup(t);
  const writes: DiffWrite[] = [
    { offset: 3 * 512, data: randomBytes(3 * 512) }, // part of block 0: sectors 3..5 from the child
    { offset: 2 * MiB, data: Buffer.alloc(2 * MiB) }, // block 1 zeroed in the child over parent data
    { offset: 4 * MiB - 1024, data: randomBytes(4096) }, // crosses into block 2 (parent unallocated)
    { offset: 8 * MiB + 512, data: randomBytes(512) }, // block 4, parent unallocated
  ];
  const child = join(dir, 'child.vhd');
  await createDifferencingVhd(join(dir, 'parent.vhd'), child, writes);
  const want = apply(expected, writes);
  const info = await describeImage(child);
  t.equal(info.subformat, 'differencing');
  t.same(info.parentChain, [join(dir, 'parent.vhd')]);
  t.same(info.problems, []);
  await convert(child, join(dir, 'flat.raw'), { to: 'raw' });
  t.ok((await readFile(join(dir, 'flat.raw'))).equals(want), 'child + parent read as the expected bytes, sector by sector');
  // Zero-skip consults the chain: block 1 is zero in the child although the parent has data.
  await convert(child, join(dir, 'flat.vhd'), { to: 'vhd' });
  await writeRaw(join(dir, 'want.raw'), want);
  t.equal((await qemuCompare(join(dir, 'want.raw'), 'raw', join(dir, 'flat.vhd'), 'vpc')).code, 0, 'flattened to a dynamic VHD, qemu-img compare with the expected bytes');
});

async function writeRaw(p: string, b: Buffer) {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(p, b);
}

t.test('parent found by each locator alone and by parent_name (UTF-16BE)', async (t) => {
  const { dir, expected } = await setup(t);
  const writes = [{ offset: 4096, data: randomBytes(8192) }];
  const want = apply(expected, writes);
  const cases: Array<[string, DiffOptions]> = [
    ['W2ru', { locators: ['W2ru'] }],
    ['W2ku', { locators: ['W2ku'] }],
    ['parent_name', { locators: [] }],
  ];
  for (const [name, o] of cases) {
    const child = join(dir, `c-${name}.vhd`);
    await createDifferencingVhd(join(dir, 'parent.vhd'), child, writes, o);
    const d = await openDisk(child);
    const got = await d.read(0, d.virtualSize);
    await d.close();
    t.ok(got.equals(want), `${name}: reads through the parent`);
  }
});

t.test('two-level chain', async (t) => {
  const { dir, expected } = await setup(t);
  const w1 = [{ offset: MiB, data: randomBytes(MiB) }];
  const w2 = [{ offset: MiB + 512, data: randomBytes(1024) }, { offset: 5 * MiB, data: randomBytes(4096) }];
  await createDifferencingVhd(join(dir, 'parent.vhd'), join(dir, 'mid.vhd'), w1);
  await createDifferencingVhd(join(dir, 'mid.vhd'), join(dir, 'top.vhd'), w2);
  const info = await describeImage(join(dir, 'top.vhd'));
  t.equal(info.parentChain?.length, 2);
  await convert(join(dir, 'top.vhd'), join(dir, 'top.raw'), { to: 'raw' });
  t.ok((await readFile(join(dir, 'top.raw'))).equals(apply(apply(expected, w1), w2)));
});

t.test('wrong parent UUID, missing parent, and a loop are typed errors', async (t) => {
  const { dir } = await setup(t);
  await createDifferencingVhd(join(dir, 'parent.vhd'), join(dir, 'bad.vhd'), [], { parentUuid: Buffer.alloc(16, 7) });
  await t.rejects(openDisk(join(dir, 'bad.vhd')), { code: 'VHD_PARENT_MISMATCH' });

  await createDifferencingVhd(join(dir, 'parent.vhd'), join(dir, 'orphan.vhd'), []);
  await rename(join(dir, 'parent.vhd'), join(dir, 'moved.vhd'));
  await t.rejects(openDisk(join(dir, 'orphan.vhd')), { code: 'VHD_PARENT_NOT_FOUND' });
  await rename(join(dir, 'moved.vhd'), join(dir, 'parent.vhd'));

  const self = Buffer.alloc(16, 9);
  await createDifferencingVhd(join(dir, 'parent.vhd'), join(dir, 'loop.vhd'), [], { parentName: 'loop.vhd', locators: [], uuid: self, parentUuid: self });
  await t.rejects(openDisk(join(dir, 'loop.vhd')), { code: 'DISK_PARENT_LOOP' });
});

t.test('a parent timestamp that differs from the one recorded is a warning', async (t) => {
  const { dir } = await setup(t);
  await createDifferencingVhd(join(dir, 'parent.vhd'), join(dir, 'ts.vhd'), []);
  const b = await readFile(join(dir, 'ts.vhd'));
  b.writeUInt32BE(b.readUInt32BE(512 + 56) - 100, 512 + 56);
  const { vhdChecksum } = await import('../../disk/vhd/footer.js');
  b.writeUInt32BE(vhdChecksum(b.subarray(512, 1536), 36), 512 + 36);
  await writeRaw(join(dir, 'ts.vhd'), b);
  const info = await describeImage(join(dir, 'ts.vhd'));
  t.match(info.problems, [{ code: 'VHD_PARENT_TIMESTAMP', severity: 'warning' }]);
});
