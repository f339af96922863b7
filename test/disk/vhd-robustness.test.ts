/**
 * Bad input is a typed error (CeError with a code), never a crash, a hang or a silent wrong
 * result: truncated files, bad checksums, bad max_table_entries, non-power-of-two blocks, BAT
 * entries past EOF, 64-bit fields past 2^53, a missing second footer (interrupted append, XO
 * #10053), overlapping blocks; then a fuzz run over mutated headers.
 */
import t from 'tap';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { tempDir } from '../helpers/tmp.js';
import { makeSparseRaw, rng } from '../helpers/disk-images.js';
import { convert } from '../../disk/convert/engine.js';
import { openDisk } from '../../disk/open.js';
import { checkImage } from '../../disk/describe.js';
import { vhdChecksum } from '../../disk/vhd/footer.js';
import { isCeError } from '../../core/errors.js';

const MiB = 1 << 20;

async function sample(t: Parameters<typeof tempDir>[0], size = 9 * MiB, runs = 5) {
  const dir = await tempDir(t);
  await makeSparseRaw(join(dir, 's.raw'), size, runs, 5);
  await convert(join(dir, 's.raw'), join(dir, 'd.vhd'), { to: 'vhd' });
  await convert(join(dir, 's.raw'), join(dir, 'f.vhd'), { to: 'vhd-fixed' });
  return { dir, dyn: await readFile(join(dir, 'd.vhd')), fixed: await readFile(join(dir, 'f.vhd')), raw: await readFile(join(dir, 's.raw')) };
}

/** Rewrite the footer copies (0 and EOF) and header checksums after a mutation. */
function fixSums(b: Buffer, dynamic: boolean): Buffer {
  const end = b.length - 512;
  b.writeUInt32BE(vhdChecksum(b.subarray(end, end + 512), 64), end + 64);
  if (dynamic) {
    b.subarray(end).copy(b, 0);
    b.writeUInt32BE(vhdChecksum(b.subarray(512, 1536), 36), 512 + 36);
  }
  return b;
}

async function openFrom(dir: string, name: string, buf: Buffer) {
  await writeFile(join(dir, name), buf);
  return openDisk(join(dir, name));
}

t.test('typed errors for damaged VHDs', async (t) => {
  const { dir, dyn, fixed } = await sample(t);
  const cases: Array<[string, Buffer, string]> = [];
  cases.push(['truncated dynamic (data cut)', dyn.subarray(0, dyn.length - 3 * MiB), 'VHD_BAT_ENTRY_PAST_EOF']);
  cases.push(['cut to 1000 bytes', dyn.subarray(0, 1000), 'VHD_HEADER_RANGE']);
  const badSum = Buffer.from(fixed);
  badSum[fixed.length - 512 + 40]! ^= 1;
  cases.push(['fixed footer checksum', badSum, 'VHD_FOOTER_CHECKSUM']);
  const zeroEntries = Buffer.from(dyn);
  zeroEntries.writeUInt32BE(0, 512 + 28);
  cases.push(['max_table_entries 0', fixSums(zeroEntries, true), 'VHD_BAT_RANGE']);
  const hugeEntries = Buffer.from(dyn);
  hugeEntries.writeUInt32BE(0xfffffff0, 512 + 28);
  cases.push(['max_table_entries huge', fixSums(hugeEntries, true), 'VHD_BAT_RANGE']);
  const npot = Buffer.from(dyn);
  npot.writeUInt32BE(3 * MiB, 512 + 32);
  cases.push(['block size 3 MiB', fixSums(npot, true), 'VHD_BLOCK_SIZE']);
  const past = Buffer.from(dyn);
  past.writeUInt32BE(0x00ffffff, 1536);
  cases.push(['BAT entry past EOF', fixSums(past, true), 'VHD_BAT_ENTRY_PAST_EOF']);
  const big = Buffer.from(fixed);
  big.writeBigUInt64BE(1n << 60n, fixed.length - 512 + 48);
  cases.push(['current_size 2^60', fixSums(big, false), 'DISK_FIELD_RANGE']);
  const hdr = Buffer.from(dyn);
  hdr[512 + 20]! ^= 0x10;
  cases.push(['header checksum', hdr, 'VHD_HEADER_CHECKSUM']);
  for (const [label, buf, code] of cases) {
    await t.rejects(openFrom(dir, `${code}.vhd`, buf), { code }, label);
    const chk = await checkImage(join(dir, `${code}.vhd`));
    t.equal(chk.ok, false, `${label}: ce check reports it`);
  }
});

t.test('missing second footer (interrupted append): read with the copy at 0, reported', async (t) => {
  const { dir, dyn, raw } = await sample(t);
  const d = await openFrom(dir, 'cut.vhd', dyn.subarray(0, dyn.length - 512));
  t.ok((await d.read(0, d.virtualSize)).equals(raw), 'content intact');
  t.ok(d.describe().problems.some((p) => p.code === 'VHD_FOOTER_END_MISSING'));
  await d.close();
  t.equal((await checkImage(join(dir, 'cut.vhd'))).ok, false);
});

t.test('overlapping blocks are found by check', async (t) => {
  const { dir, dyn } = await sample(t);
  const b = Buffer.from(dyn);
  const first = b.readUInt32BE(1536 + 4 * [0, 1, 2, 3, 4].find((i) => b.readUInt32BE(1536 + 4 * i) !== 0xffffffff)!);
  for (let i = 0; i < 5; i++) if (b.readUInt32BE(1536 + 4 * i) === 0xffffffff) {
    b.writeUInt32BE(first + 1, 1536 + 4 * i);
    break;
  }
  await writeFile(join(dir, 'ov.vhd'), b);
  const chk = await checkImage(join(dir, 'ov.vhd'));
  t.ok(chk.problems.some((p) => p.code === 'VHD_BLOCK_OVERLAP'), JSON.stringify(chk.problems));
});

t.test('fuzz: mutated footers, headers and BATs never crash or hang', async (t) => {
  const { dir, dyn, fixed } = await sample(t, 6 * MiB, 3);
  await writeFile(join(dir, 'fz-d.vhd'), dyn);
  await writeFile(join(dir, 'fz-f.vhd'), fixed);
  const { open } = await import('node:fs/promises');
  const r = rng(42);
  let typed = 0;
  let opened = 0;
  const HEAD = 1536 + 64;
  for (let i = 0; i < 200; i++) {
    const isFixed = i % 3 === 0;
    const base = isFixed ? fixed : dyn;
    const path = join(dir, isFixed ? 'fz-f.vhd' : 'fz-d.vhd');
    // Mutate a copy of the first 1600 bytes and the footer, write them in place, restore after.
    const head = Buffer.from(base.subarray(0, HEAD));
    const tail = Buffer.from(base.subarray(base.length - 512));
    const n = 1 + Math.floor(r() * 8);
    for (let k = 0; k < n; k++) {
      if (r() < 0.4) tail[Math.floor(r() * 512)] = Math.floor(r() * 256);
      else head[Math.floor(r() * HEAD)] = Math.floor(r() * 256);
    }
    if (r() < 0.6) {
      tail.writeUInt32BE(vhdChecksum(tail, 64), 64);
      if (!isFixed) {
        tail.copy(head, 0);
        head.writeUInt32BE(vhdChecksum(head.subarray(512, 1536), 36), 512 + 36);
      }
    }
    const fh = await open(path, 'r+');
    await fh.write(head, 0, HEAD, 0);
    await fh.write(tail, 0, 512, base.length - 512);
    await fh.close();
    try {
      const d = await openDisk(path);
      opened++;
      try {
        let count = 0;
        for await (const blk of d.blocks()) {
          if (++count > 64) break;
          const off = blk * d.blockSize;
          if (off < d.virtualSize) await d.read(off, Math.min(d.blockSize, d.virtualSize - off, MiB));
        }
        d.describe();
      } finally {
        await d.close();
      }
    } catch (e) {
      if (!isCeError(e)) {
        t.fail(`iteration ${i}: untyped error ${(e as Error).stack}`);
        break;
      }
      typed++;
    } finally {
      const fh2 = await open(path, 'r+');
      await fh2.write(base, 0, HEAD, 0);
      await fh2.write(base, base.length - 512, 512, base.length - 512);
      await fh2.close();
    }
  }
  t.pass(`200 mutations: ${opened} opened and read, ${typed} typed errors`);
});

t.test('readers use table_offset: a BAT moved to the end of the file', async (t) => {
  const { dir, dyn, raw } = await sample(t);
  const end = dyn.length - 512;
  const entries = dyn.readUInt32BE(512 + 28);
  const batBytes = Math.ceil((entries * 4) / 512) * 512;
  const moved = Buffer.concat([dyn.subarray(0, end), dyn.subarray(1536, 1536 + batBytes), dyn.subarray(end)]);
  moved.fill(0, 1536, 1536 + batBytes); // the old place now says "block at sector 0": wrong if read
  moved.writeBigUInt64BE(BigInt(end), 512 + 16);
  const d = await openFrom(dir, 'moved.vhd', fixSums(moved, true));
  t.ok((await d.read(0, d.virtualSize)).equals(raw));
  await d.close();
});
