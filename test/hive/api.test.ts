/**
 * The small pieces: control-set helpers on the real SYSTEM hive, value codecs, type names,
 * Marvin32 against the .NET test vectors, the lh hash, and a fuzz of the log parser.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHARED } from '../helpers/cli.js';
import { Hive, currentControlSet, controlSetsToEdit } from '../../disk/hive/hive.js';
import { REG } from '../../disk/hive/types.js';
import { encodeValue, decodeValue, parseTypeName } from '../../disk/hive/value-codec.js';
import { parseData } from '../../disk/hive/cli.js';
import { marvin32 } from '../../disk/hive/marvin32.js';
import { lhHash, upcaseName } from '../../disk/hive/upcase.js';
import { replayLogs } from '../../disk/hive/log-replay.js';
import { hvleEntry, newFormatLog, makeDirty } from '../helpers/hive-log.js';
import { CeError } from '../../core/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { compareWithHivex } from '../helpers/hivex.js';
import { exportKeys, checkHive } from '../../disk/hive/export.js';

const FIXTURES = join(SHARED, 'fixtures/hives');

t.test('control sets from Select', async (t) => {
  const h = await Hive.open(join(FIXTURES, 'SYSTEM_2'), { acceptDirty: true });
  t.ok(h.dirty, 'the fixture is dirty and was accepted');
  t.same(h.replayedLog, []);
  t.equal(currentControlSet(h), 'ControlSet001');
  t.same(controlSetsToEdit(h), ['ControlSet001']);
  // Default pointing elsewhere: both are edited
  h.ensureKey('ControlSet002');
  h.key('Select')!.setValue('Default', REG.DWORD, 2);
  t.same(controlSetsToEdit(h), ['ControlSet001', 'ControlSet002']);
  h.key('Select')!.setValue('Current', REG.DWORD, 7);
  t.throws(() => currentControlSet(h), { code: 'HIVE_NO_CONTROL_SET' });
  const sam = await Hive.open(join(FIXTURES, 'SAM'));
  t.throws(() => currentControlSet(sam), { code: 'HIVE_NO_CONTROL_SET' });
});

t.test('a hive created from nothing is read by hivexsh', async (t) => {
  const dir = await tempDir(t);
  const h = Hive.create({ rootName: 'CE-NEW' });
  t.ok(checkHive(h).ok);
  t.equal(h.root.name, 'CE-NEW');
  h.ensureKey('Policy\\PolPrDmN').setValue('', REG.BINARY, Buffer.from('0c000e0010000000', 'hex'));
  h.ensureKey('Select').setValue('Current', REG.DWORD, 1);
  h.ensureKey('ControlSet001\\Services');
  const file = join(dir, 'NEW');
  await t.rejects(Hive.create().save(), { code: 'HIVE_NO_PATH' });
  await h.save({ path: file });
  const again = await Hive.open(file);
  t.same(checkHive(again).warnings, []);
  t.equal(currentControlSet(again), 'ControlSet001');
  t.equal((await compareWithHivex(file, exportKeys(again))).diff, undefined);
});

t.test('value codecs', async (t) => {
  t.same(encodeValue(REG.SZ, 'ab'), Buffer.from('a\0b\0\0\0', 'latin1'));
  t.same(encodeValue(REG.MULTI_SZ, ['a', 'b']), Buffer.from('a\0\0\0b\0\0\0\0\0', 'latin1'));
  t.same(encodeValue(REG.DWORD_BIG_ENDIAN, 0x01020304), Buffer.from([1, 2, 3, 4]));
  t.same(encodeValue(REG.DWORD, -1), Buffer.from([255, 255, 255, 255]));
  t.same(encodeValue(REG.QWORD, -1n), Buffer.alloc(8, 255));
  t.equal(decodeValue(REG.SZ, Buffer.from('h\0i\0\0\0junk', 'latin1')), 'hi', 'stops at the NUL');
  t.same(decodeValue(REG.MULTI_SZ, Buffer.from('a\0\0\0b\0\0\0\0\0', 'latin1')), ['a', 'b']);
  t.same(decodeValue(REG.DWORD, Buffer.from([1, 2])), Buffer.from([1, 2]), 'wrong size stays raw');
  t.equal(decodeValue(REG.QWORD, Buffer.alloc(8, 1)), 0x0101010101010101n);
  t.same(decodeValue(0x99, Buffer.from([7])), Buffer.from([7]), 'unknown types are raw');
  t.equal(parseTypeName('dword'), REG.DWORD);
  t.equal(parseTypeName('REG_MULTI_SZ'), REG.MULTI_SZ);
  t.equal(parseTypeName('0x20'), 0x20);
  t.throws(() => parseTypeName('REG_FOO'), { code: 'HIVE_BAD_TYPE' });
  // the CLI's --data parsing
  t.equal(parseData(REG.EXPAND_SZ, ['%SystemRoot%\\x.exe'], false), '%SystemRoot%\\x.exe');
  t.same(parseData(REG.BINARY, ['00ff10'], false), Buffer.from([0, 0xff, 0x10]));
  t.same(parseData(REG.SZ, ['41 00'], true), Buffer.from([0x41, 0]));
  t.equal(parseData(REG.DWORD, ['0x10'], false), 16);
  t.equal(parseData(REG.QWORD, ['18446744073709551615'], false), 2n ** 64n - 1n);
  t.throws(() => parseData(REG.DWORD, ['12abc'], false), { code: 'HIVE_BAD_DATA' });
  t.throws(() => parseData(REG.BINARY, ['0g'], false), { code: 'HIVE_BAD_DATA' });
  t.throws(() => encodeValue(REG.DWORD, 2 ** 33), { code: 'HIVE_BAD_DATA' });
  t.throws(() => encodeValue(REG.MULTI_SZ, ['a', '']), { code: 'HIVE_BAD_DATA' });
});

t.test('Marvin32 matches the .NET test vectors; lh hash', async (t) => {
  const S1 = 0x4fb61a001bdbccn;
  const S3 = 0x804fb61a801bdbccn;
  t.equal(marvin32(Buffer.alloc(0), S1), 0x30ed35c100cd3c7dn);
  t.equal(marvin32(Buffer.from('af', 'hex'), S1), 0x48e73fc77d75ddc1n);
  t.equal(marvin32(Buffer.from('8642dc59', 'hex'), S1), 0x7008f2e87e9cf556n);
  t.equal(marvin32(Buffer.from('ab427ea8d10fc7', 'hex'), S1), 0xe11847e4f0678c41n);
  t.equal(marvin32(Buffer.from('ff00ff00ff', 'hex'), S3), 0x920b62bbca3e0b72n);
  t.equal(lhHash('ab'), (0x41 * 37 + 0x42) >>> 0, 'hash of the upper-cased name');
  t.equal(upcaseName('straße'), 'STRAßE', 'ß has no single-unit upper case: kept');
});

t.test('fuzz: damaged logs never crash the replay', async (t) => {
  const sam = Hive.fromBuffer(await readFile(join(FIXTURES, 'SAM')));
  const v0 = Buffer.from(sam.serialize(10));
  const h1 = Hive.fromBuffer(Buffer.from(v0));
  h1.root.createKey('L').setValue('x', REG.BINARY, Buffer.alloc(9000, 1));
  const v1 = Buffer.from(h1.serialize(11));
  const log = newFormatLog(v0, 10, [hvleEntry(v0, v1, 10)]);
  const primary = makeDirty(v0, 10, 1);
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const l = Buffer.from(log);
    for (let m = 0; m < 3; m++) {
      const at = rand() < 0.5 ? 512 + Math.floor(rand() * 64) : Math.floor(rand() * l.length);
      l.writeUInt8(Math.floor(rand() * 256), at);
    }
    if (rand() < 0.5 && l.readUInt32LE(516) % 512 === 0 && l.readUInt32LE(516) <= l.length - 512 && l.readUInt32LE(516) >= 40) {
      // re-seal the entry so the damage gets past the hashes and reaches the hive structures
      const e = l.subarray(512, 512 + l.readUInt32LE(516));
      e.writeBigUInt64LE(marvin32(e.subarray(40)), 24);
      e.writeBigUInt64LE(marvin32(e.subarray(0, 32)), 32);
    }
    const cut = rand() < 0.2 ? l.subarray(0, Math.floor(rand() * l.length)) : l;
    replayLogs(primary, [{ name: 'LOG1', data: cut }]);
    let outcome = 'ok';
    try {
      Hive.fromBuffer(Buffer.from(primary), { logData: [{ name: 'LOG1', data: cut }] });
    } catch (e) {
      if (!(e instanceof CeError) || !e.code.startsWith('HIVE_')) throw e;
      outcome = e.code;
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  t.comment(JSON.stringify(Object.fromEntries(outcomes)));
  t.pass('300 damaged logs: replayed, partially replayed or refused with a HIVE_* code');
});
