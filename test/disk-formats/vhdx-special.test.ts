/**
 * VHDX cases qemu-img cannot check for us: log replay read-only and differencing disks. The
 * fixtures are built with our own writer from the spec (MS-VHDX §2.3 log entries, §2.6.2.6 parent
 * locator) and verified by reading back through a raw round trip against the expected raw bytes.
 * Where qemu can act as a second oracle (replaying the log on a writable copy) it does.
 */
import t from 'tap';
import { join } from 'node:path';
import { copyFile, open, readFile, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { FileSink } from '../../disk/io/file.js';
import { writeVhdxDifferencing } from '../../disk/vhdx/writer.js';
import { buildLogEntry } from '../../disk/vhdx/log.js';
import { VhdxDisk } from '../../disk/vhdx/reader.js';
import { parseHeader, serializeHeader, parseRegionTable, serializeRegionTable, HEADER_OFFSETS, REGION_OFFSETS, PAYLOAD } from '../../disk/vhdx/layout.js';
import { randomGuid, guidToString } from '../../disk/format-kit/guid.js';
import { tempDir } from '../helpers/tmp.js';
import { MiB, makeSparseRaw, openImage, openRaw, qemuImg, readToRaw, sameFile, writeWith, MODULES } from './helpers.js';

const vhdx = MODULES[0];
const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

async function patch(path: string, at: number, data: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(data, 0, data.length, at);
  await fh.close();
}

async function makeVhdx(dir: string, name: string, raw: string): Promise<string> {
  const out = join(dir, name);
  const src = await openRaw(raw);
  await writeWith(vhdx, 'vhdx', src, out, { blockSize: MiB });
  await src.close();
  return out;
}

t.test('dirty log: replayed in memory, the source untouched (fixture built with our writer from MS-VHDX §2.3)', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  const a = randomBytes(6 * MiB);
  a.fill(0, 3 * MiB, 4 * MiB); // block 3 is all zero: NOT_PRESENT in the clean file
  await writeFile(raw, a);
  const img = await makeVhdx(dir, 'dirty.vhdx', raw);
  const d0 = (await openImage(img)) as VhdxDisk;
  const block0 = d0.entry(0).fileOffset;
  t.equal(d0.entry(3).state, PAYLOAD.NOT_PRESENT);
  await d0.close();

  // The crash: block 3's data reached the end of the file, its BAT update only the log.
  const fileEnd = (await readFile(img)).length;
  const newBlock = randomBytes(MiB);
  await patch(img, fileEnd, newBlock);
  const batPage = Buffer.alloc(4096);
  const bat = await readFile(img).then((b) => b.subarray(3 * MiB, 3 * MiB + 4096));
  bat.copy(batPage);
  batPage.writeBigUInt64LE((BigInt(fileEnd / MiB) << 20n) | 6n, 3 * 8); // block 3 FULLY_PRESENT (chunk ratio 4096: index 3)
  const page = randomBytes(4096);
  const logGuid = randomGuid();
  const entry = buildLogEntry({
    seq: 7n, tail: 0, logGuid, flushedFileOffset: fileEnd, lastFileOffset: fileEnd + MiB,
    writes: [{ fileOffset: 3 * MiB, data: batPage }, { fileOffset: block0 + 8192, data: page }],
    zeros: [{ fileOffset: block0 + 16384, length: 8192 }],
  });
  await patch(img, MiB, entry); // our writer puts the log at 1 MiB
  for (const off of HEADER_OFFSETS) {
    const h = parseHeader(await readFile(img).then((b) => b.subarray(off, off + 4096)))!;
    await patch(img, off, serializeHeader({ ...h, logGuid, sequence: h.sequence + 10n }));
  }
  const expected = Buffer.from(a);
  newBlock.copy(expected, 3 * MiB);
  page.copy(expected, 8192);
  expected.fill(0, 16384, 16384 + 8192);
  await writeFile(join(dir, 'expected.raw'), expected);

  const before = await sha(img);
  const ro = await qemuImg(['info', '-U', '--image-opts', `driver=vhdx,file.filename=${img},read-only=on`]);
  t.not(ro.exitCode, 0, `qemu-img refuses the dirty file read-only: ${ro.stderr.trim()}`);

  const d = await openImage(img);
  t.equal(d.describe().dirtyLog, true, 'describe() reports the dirty log');
  t.equal(d.describe().extra?.logEntriesReplayed, 1);
  await readToRaw(d, join(dir, 'got.raw'));
  await d.close();
  t.ok(await sameFile(join(dir, 'expected.raw'), join(dir, 'got.raw')), 'our read equals the expected raw (raw round trip)');
  t.equal(await sha(img), before, 'the source file is unchanged');

  // Second oracle: qemu replays the log when it may write (on a copy).
  const copy = join(dir, 'copy.vhdx');
  await copyFile(img, copy);
  await qemuImg(['check', '-r', 'all', copy]);
  t.equal((await qemuImg(['convert', '-O', 'raw', copy, join(dir, 'qemu.raw')])).exitCode, 0);
  t.ok(await sameFile(join(dir, 'expected.raw'), join(dir, 'qemu.raw')), 'qemu, replaying on a writable copy, agrees');

  // A log GUID with no valid entry is corruption: typed error.
  const bad = join(dir, 'bad.vhdx');
  await copyFile(img, bad);
  await patch(bad, MiB + 100, Buffer.from('garbage'));
  await t.rejects(openImage(bad), { code: 'VHDX_LOG_INVALID' });
});

t.test('differencing VHDX: sector bitmaps, PARTIALLY_PRESENT, parent linkage (qemu-img cannot; verified by raw round trip)', async (t) => {
  const dir = await tempDir(t);
  const praw = join(dir, 'parent.raw');
  await makeSparseRaw(praw, 12 * MiB, 8, 2 * MiB);
  await patch(praw, 8 * MiB, randomBytes(65536)); // the parent has data where the child will have zeros
  const parentPath = await makeVhdx(dir, 'parent.vhdx', praw);
  const content = await readFile(praw);
  randomBytes(512 * 3).copy(content, 2 * MiB + 512 * 5); // a few sectors: PARTIALLY_PRESENT
  randomBytes(MiB).copy(content, 5 * MiB); // a whole block: FULLY_PRESENT
  content.fill(0, 8 * MiB, 8 * MiB + 4096); // zeros over the parent's data must be stored (dosbox-x#4545)
  content.fill(0xcc, 9 * MiB, 9 * MiB + 1); // one byte
  const craw = join(dir, 'child.raw');
  await writeFile(craw, content);

  const parent = await openImage(parentPath);
  const src = await openRaw(craw);
  const childPath = join(dir, 'child.vhdx');
  const sink = await FileSink.open(childPath);
  await writeVhdxDifferencing(src, parent, { dataWriteGuid: parent.describe().extra!.dataWriteGuid as string, relativePath: 'parent.vhdx', absoluteWin32Path: 'C:\\vms\\parent.vhdx' }, sink, { blockSize: MiB }, {});
  await sink.close();
  await src.close();
  await parent.close();

  const d = (await openImage(childPath)) as VhdxDisk;
  t.equal(d.subformat, 'differencing');
  t.same(d.describe().parentChain, [join(dir, 'parent.vhdx')]);
  t.equal(d.entry(2).state, PAYLOAD.PARTIALLY_PRESENT, 'a few sectors → PARTIALLY_PRESENT');
  t.equal(d.entry(5).state, PAYLOAD.FULLY_PRESENT, 'whole block → FULLY_PRESENT');
  t.equal(d.entry(0).state, PAYLOAD.NOT_PRESENT, 'unchanged block → NOT_PRESENT');
  t.equal(d.entry(8).state, PAYLOAD.PARTIALLY_PRESENT, 'zeros over parent data are stored');
  t.match(d.describe().extra?.parentLocator, { parent_linkage: /^\{[0-9a-f-]{36}\}$/, relative_path: 'parent.vhdx' });
  await readToRaw(d, join(dir, 'got.raw'));
  await d.close();
  t.ok(await sameFile(craw, join(dir, 'got.raw')), 'child + parent read as the child content');

  // The parent changes (new DataWriteGuid): the child must refuse it.
  await makeVhdx(dir, 'parent.vhdx', praw);
  await t.rejects(openImage(childPath), { code: 'VHDX_PARENT_MISMATCH' });
  const { rm } = await import('node:fs/promises');
  await rm(join(dir, 'parent.vhdx'));
  await t.rejects(openImage(childPath), { code: 'VHDX_PARENT_NOT_FOUND' });
});

t.test('VHDX headers and regions: larger valid sequence wins, bad copies fall back, unknown required parts refuse', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'a.raw');
  await makeSparseRaw(raw, 4 * MiB, 3);
  const img = await makeVhdx(dir, 'a.vhdx', raw);
  const variant = async (name: string, fn: (b: Buffer) => void) => {
    const b = await readFile(img);
    fn(b);
    const p = join(dir, name);
    await writeFile(p, b);
    return p;
  };
  // Header 2 (sequence 2) is current; break it and header 1 must be used.
  const h2bad = await variant('h2bad.vhdx', (b) => { b[HEADER_OFFSETS[1] + 100] ^= 0xff; });
  let d = await openImage(h2bad);
  t.equal(d.describe().extra?.headerSequence, '1', 'falls back to the valid header 1');
  t.ok(d.describe().problems.some((p) => p.code === 'VHDX_HEADER_INVALID'));
  await readToRaw(d, join(dir, 'got.raw'));
  await d.close();
  t.ok(await sameFile(raw, join(dir, 'got.raw')));
  await t.rejects(openImage(await variant('hbad.vhdx', (b) => { b[HEADER_OFFSETS[0] + 100] ^= 1; b[HEADER_OFFSETS[1] + 100] ^= 1; })), { code: 'VHDX_HEADER_INVALID' });
  // A higher sequence number in header 1 makes it current.
  const h1new = await variant('h1new.vhdx', (b) => {
    const h = parseHeader(b.subarray(HEADER_OFFSETS[0], HEADER_OFFSETS[0] + 4096))!;
    serializeHeader({ ...h, sequence: 99n }).copy(b, HEADER_OFFSETS[0]);
  });
  d = await openImage(h1new);
  t.equal(d.describe().extra?.headerSequence, '99');
  await d.close();
  // Region table 1 damaged: table 2 is used.
  d = await openImage(await variant('r1bad.vhdx', (b) => { b[REGION_OFFSETS[0] + 40] ^= 0xff; }));
  t.ok(d.describe().problems.some((p) => p.code === 'VHDX_REGION_TABLE_INVALID'));
  await d.close();
  // An unknown region marked required: refuse.
  await t.rejects(openImage(await variant('req.vhdx', (b) => {
    for (const off of REGION_OFFSETS) {
      const r = parseRegionTable(b.subarray(off, off + 65536))!;
      r.push({ guid: guidToString(randomGuid()), fileOffset: 100 * MiB, length: MiB, required: true });
      serializeRegionTable(r).copy(b, off);
    }
  })), { code: 'VHDX_REQUIRED_REGION_UNKNOWN' });
  // An unknown metadata item marked required: refuse (table at 2 MiB, entries from +32).
  await t.rejects(openImage(await variant('meta.vhdx', (b) => {
    const at = 2 * MiB;
    const n = b.readUInt16LE(at + 10);
    randomGuid().copy(b, at + 32 + n * 32);
    b.writeUInt32LE(0, at + 32 + n * 32 + 16);
    b.writeUInt32LE(0, at + 32 + n * 32 + 20);
    b.writeUInt32LE(4, at + 32 + n * 32 + 24);
    b.writeUInt16LE(n + 1, at + 10);
  })), { code: 'VHDX_REQUIRED_METADATA_UNKNOWN' });
  // A BAT entry past EOF.
  await t.rejects(openImage(await variant('bat.vhdx', (b) => { b.writeBigUInt64LE((5000n << 20n) | 6n, 3 * MiB); })), { code: 'VHDX_BAT_PAST_EOF' });
  // Zero-state entries carry offset 0 (Hyper-V fails otherwise).
  const z = (await openImage(img)) as VhdxDisk;
  for (let blk = 0; blk < z.geo.dataBlocks; blk++) {
    const e = z.entry(blk);
    if (e.state !== PAYLOAD.FULLY_PRESENT) t.equal(e.fileOffset, 0, `block ${blk}: offset 0 when not present`);
  }
  await z.close();
});
