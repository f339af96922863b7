/**
 * 10,000 keys with values of every type (100 KiB big data included) written by us, saved, and
 * read by hivexsh; big data is stored as `db` segments; security refcounts match the keys.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { SHARED } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { compareWithHivex } from '../helpers/hivex.js';
import { Hive } from '../../disk/hive/hive.js';
import { exportKeys, checkHive } from '../../disk/hive/export.js';
import { REG } from '../../disk/hive/types.js';
import type { KeyImpl } from '../../disk/hive/registry.js';
import { BASE_BLOCK_SIZE } from '../../disk/hive/base-block.js';

const FIXTURES = join(SHARED, 'fixtures/hives');

t.test('10,000 keys and values of every type, verified by hivexsh', async (t) => {
  const dir = await tempDir(t);
  const h = Hive.fromBuffer(await readFile(join(FIXTURES, 'minimal')));
  const big = Buffer.alloc(100 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
  const root = h.root;
  const groups = 100;
  for (let g = 0; g < groups; g++) {
    const parent = root.createKey(`Group${String(g).padStart(3, '0')}`);
    for (let i = 0; i < 100; i++) {
      const k = parent.createKey(`Key ${i} ${i % 3 === 0 ? 'Ünïcødé ★' : 'ascii'}`);
      switch (i % 12) {
        case 0: k.setValue('sz', REG.SZ, `value ${g}/${i}`); break;
        case 1: k.setValue('expand', REG.EXPAND_SZ, '%SystemRoot%\\system32'); break;
        case 2: k.setValue('multi', REG.MULTI_SZ, ['one', 'two', `${i}`]); break;
        case 3: k.setValue('dword', REG.DWORD, 0xdeadbeef); break;
        case 4: k.setValue('dwordbe', REG.DWORD_BIG_ENDIAN, 0x01020304); break;
        case 5: k.setValue('qword', REG.QWORD, 0x1122334455667788n); break;
        case 6: k.setValue('binary', REG.BINARY, Buffer.from([1, 2, 3])); break;
        case 7: k.setValue('none', REG.NONE, Buffer.alloc(0)); break;
        case 8: k.setValue('link', REG.LINK, '\\Registry\\Machine\\Software'); break;
        case 9: k.setValue('reslist', REG.RESOURCE_LIST, Buffer.alloc(40, 9)); break;
        case 10: k.setValue('unknown', 0x1234, Buffer.from('raw bytes')); break;
        case 11: k.setValue('', REG.SZ, 'the default value'); break;
      }
      k.setValue('Wert ★', REG.DWORD, i);
    }
  }
  // more children than one lh leaf takes: written as an ri over lh leaves
  const wide = root.createKey('Wide');
  for (let i = 2499; i >= 0; i--) wide.createKey(`w${i}`);
  root.setValue('Big', REG.BINARY, big);
  root.setValue('BigString', REG.SZ, 'x'.repeat(20000));
  const file = join(dir, 'bulk');
  await h.save({ path: file, noBackup: true });

  const again = await Hive.open(file);
  const keys = exportKeys(again);
  t.equal(keys.length, 1 + groups + groups * 100 + 1 + 2500, '12,602 keys');
  t.equal(keys.reduce((n, k) => n + k.values.length, 0), 2 + 2 * groups * 100, 'values');
  t.same(again.key('')!.value('big')!.raw, big, 'big data round trip');
  const rep = checkHive(again);
  t.ok(rep.ok, JSON.stringify(rep.errors.slice(0, 3)));
  t.same(rep.warnings, [], 'no warnings: sorted lists, parents, max lengths, security cells');

  // the big value is a db record with 7 segments
  const rootOff = again.rootOff;
  const vk = again.valueOffsets(rootOff).find((v) => again.vkInfo(v).name === 'Big')!;
  const dataOff = again.store.buf.readUInt32LE(again.vk(vk) + 8);
  t.equal(again.store.sig(dataOff), 'db');
  t.equal(again.store.buf.readUInt16LE(BASE_BLOCK_SIZE + dataOff + 6), Math.ceil(big.length / 16344));

  const wideList = again.keyField((again.key('Wide') as KeyImpl).offset, 'subList');
  t.equal(again.store.sig(wideList), 'ri', 'a long subkey list is an ri');
  // all keys share the root's sk: its refcount went up by one per key
  const skOff = again.keyField(rootOff, 'sk');
  const refs = again.store.buf.readUInt32LE(again.store.cell(skOff).pos + 12);
  t.ok(refs >= keys.length, `sk refcount ${refs} covers ${keys.length} keys`);

  const cmp = await compareWithHivex(file, keys);
  t.equal(cmp.diff, undefined, 'hivexsh sees every key and value as we do');
  t.equal(cmp.keys, keys.length);
  // hivex reads the db big data too
  const r = await execa('hivexsh', [file], { input: 'lsval Big\n', encoding: 'buffer', reject: false });
  t.equal(r.exitCode, 0);
  t.ok(Buffer.from(r.stdout).equals(big), 'hivexsh lsval Big returns the 100 KiB');
});
