/**
 * Damaged hives give typed HIVE_* errors, never a crash, a hang or a wrong result: hand-made
 * corruptions of each kind, then a fuzz run over mutated copies of the fixtures.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHARED, runCe, json } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { Hive } from '../../disk/hive/hive.js';
import { exportKeys, checkHive } from '../../disk/hive/export.js';
import { REG } from '../../disk/hive/types.js';
import { baseBlockChecksum, BASE_BLOCK_SIZE } from '../../disk/hive/base-block.js';
import { CeError } from '../../core/errors.js';

const FIXTURES = join(SHARED, 'fixtures/hives');

function fixChecksum(b: Buffer): Buffer {
  b.writeUInt32LE(baseBlockChecksum(b), 508);
  return b;
}

/** Open, export, check and edit; returns the error code or 'ok'. Anything but a CeError fails. */
function exercise(buf: Buffer): string {
  try {
    const h = Hive.fromBuffer(buf, { acceptDirty: true });
    exportKeys(h);
    const rep = checkHive(h);
    if (rep.errors.some((e) => !e.code.startsWith('HIVE_') || e.code === 'HIVE_INTERNAL')) throw new Error(`untyped error in check: ${JSON.stringify(rep.errors[0])}`);
    const k = h.root.createKey('Fuzz\\Key');
    k.setValue('v', REG.SZ, 'x');
    h.root.deleteKey('Fuzz');
    const first = h.root.subkeys()[0];
    if (first) h.root.deleteKey(first.name);
    h.root.values()[0]?.name.length;
    Hive.fromBuffer(Buffer.from(h.toBuffer()), { acceptDirty: true });
    return 'ok';
  } catch (e) {
    if (e instanceof CeError && e.code.startsWith('HIVE_')) return e.code;
    throw e;
  }
}

/** Offsets of an nk's fields in the image (file positions). */
function nkPos(h: Hive, off: number): number {
  return h.nk(off);
}

t.test('hand-made corruptions give the right codes', async (t) => {
  const sam = await readFile(join(FIXTURES, 'SAM'));
  const code = (b: Buffer) => {
    try {
      const h = Hive.fromBuffer(b);
      exportKeys(h);
      return 'ok';
    } catch (e) {
      return (e as CeError).code;
    }
  };
  t.equal(code(Buffer.alloc(0)), 'HIVE_TRUNCATED', 'empty file');
  t.equal(code(sam.subarray(0, 300)), 'HIVE_TRUNCATED', 'cut in the base block');
  t.equal(code(sam.subarray(0, 4096 + 5000)), 'HIVE_TRUNCATED', 'cut in the bins');
  t.equal(code(Buffer.from('not a hive at all'.repeat(400))), 'HIVE_BAD_SIGNATURE');
  const badSum = Buffer.from(sam);
  badSum[60] ^= 1;
  t.equal(code(badSum), 'HIVE_BAD_CHECKSUM');
  const badRoot = Buffer.from(sam);
  badRoot.writeUInt32LE(0x7ffffff8, 36);
  t.equal(code(fixChecksum(badRoot)), 'HIVE_BAD_OFFSET', 'root offset out of range');
  const badVer = Buffer.from(sam);
  badVer.writeUInt32LE(9, 24);
  t.equal(code(fixChecksum(badVer)), 'HIVE_UNSUPPORTED_VERSION');
  const badHbin = Buffer.from(sam);
  badHbin.write('xbin', BASE_BLOCK_SIZE + 4096, 'latin1');
  t.equal(code(badHbin), 'HIVE_BAD_HBIN');
  const badCell = Buffer.from(sam);
  badCell.writeInt32LE(0, BASE_BLOCK_SIZE + 32);
  t.equal(code(badCell), 'HIVE_BAD_CELL');

  const h = Hive.fromBuffer(Buffer.from(sam));
  const root = h.rootOff;
  const child = h.childOffsets(root)[0]!;
  // a subkey list pointer out of range
  const b1 = Buffer.from(sam);
  b1.writeUInt32LE(0x7fff0000, nkPos(h, root) + 28);
  t.equal(code(b1), 'HIVE_BAD_OFFSET');
  // a cycle: the child lists the root's children (itself among them)
  const b2 = Buffer.from(sam);
  b2.writeUInt32LE(b2.readUInt32LE(nkPos(h, root) + 20), nkPos(h, child) + 20);
  b2.writeUInt32LE(b2.readUInt32LE(nkPos(h, root) + 28), nkPos(h, child) + 28);
  t.equal(code(b2), 'HIVE_CYCLE');
  // huge counts: values and list entries
  const b4 = Buffer.from(sam);
  const list = b4.readUInt32LE(nkPos(h, root) + 28);
  b4.writeUInt16LE(0xffff, BASE_BLOCK_SIZE + list + 4 + 2);
  t.equal(code(b4), 'HIVE_BAD_COUNT');
  // a value whose data pointer is out of range
  const withVal = Hive.fromBuffer(Buffer.from(sam));
  let vkOff = -1;
  const stack = [withVal.rootOff];
  while (stack.length && vkOff < 0) {
    const o = stack.pop()!;
    for (const v of withVal.valueOffsets(o)) if (withVal.vkInfo(v).size > 4) vkOff = v;
    stack.push(...withVal.childOffsets(o));
  }
  let keyWithValues = -1;
  const st2 = [withVal.rootOff];
  while (st2.length && keyWithValues < 0) {
    const o = st2.pop()!;
    if (withVal.valueOffsets(o).length) keyWithValues = o;
    st2.push(...withVal.childOffsets(o));
  }
  const b3 = Buffer.from(sam);
  b3.writeUInt32LE(0x7fffffff, withVal.nk(keyWithValues) + 36);
  t.equal(code(b3), 'HIVE_BAD_COUNT', 'huge value count');
  const b5 = Buffer.from(sam);
  b5.writeUInt32LE(0x10000000, withVal.vk(vkOff) + 8);
  t.equal(code(b5), 'HIVE_BAD_OFFSET');
});

t.test('the CLI reports a damaged hive with its code', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'cut');
  await writeFile(f, (await readFile(join(FIXTURES, 'SAM'))).subarray(0, 6000));
  const r = await runCe(['hive', 'check', f, '--json']);
  t.equal(r.exitCode, 1);
  t.equal(json<{ error: { code: string } }>(r).error.code, 'HIVE_TRUNCATED');
});

/** xorshift32: the same mutations on every run. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

t.test('fuzz: mutated copies of the fixtures never crash or hang', async (t) => {
  const rand = rng(0xc0ffee);
  const codes = new Map<string, number>();
  let runs = 0;
  for (const name of ['special', 'SAM', 'SECURITY']) {
    const orig = await readFile(join(FIXTURES, name));
    const binsSize = orig.readUInt32LE(40);
    // allocated cell offsets, to aim mutations at structures rather than at slack
    const cells: number[] = [];
    for (let off = 0; off < binsSize; ) {
      const hsize = orig.readUInt32LE(BASE_BLOCK_SIZE + off + 8);
      for (let c = off + 32; c < off + hsize; ) {
        const sz = orig.readInt32LE(BASE_BLOCK_SIZE + c);
        if (sz < 0) cells.push(c);
        c += Math.abs(sz);
      }
      off += hsize;
    }
    const interesting = [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0xffff, 8, binsSize, binsSize - 8, 0x20];
    for (let i = 0; i < 250; i++) {
      const b = Buffer.from(orig);
      const n = 1 + Math.floor(rand() * 4);
      for (let m = 0; m < n; m++) {
        const kind = rand();
        if (kind < 0.6) {
          const cell = cells[Math.floor(rand() * cells.length)]!;
          const len = -orig.readInt32LE(BASE_BLOCK_SIZE + cell);
          const at = BASE_BLOCK_SIZE + cell + 4 * Math.floor(rand() * (len / 4));
          const v = rand() < 0.5 ? interesting[Math.floor(rand() * interesting.length)]! : cells[Math.floor(rand() * cells.length)]!;
          b.writeUInt32LE(v >>> 0, at);
        } else if (kind < 0.9) {
          const at = BASE_BLOCK_SIZE + Math.floor(rand() * binsSize);
          b[at] = Math.floor(rand() * 256);
        } else {
          b[Math.floor(rand() * 512)] = Math.floor(rand() * 256);
          if (rand() < 0.7) fixChecksum(b);
        }
      }
      const c = exercise(b);
      codes.set(c, (codes.get(c) ?? 0) + 1);
      runs++;
    }
  }
  t.ok(runs >= 750);
  t.comment(`outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
  t.pass('no crash, no hang, only HIVE_* errors');
});
