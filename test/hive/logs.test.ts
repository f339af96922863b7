/**
 * Dirty hives and transaction-log replay. No real dirty hive with its logs exists in the
 * fixtures, so the tests build them from the format with our own log writer
 * (test/helpers/hive-log.ts): the primary stays at an older state with unequal sequence
 * numbers, the logs carry the pages of the newer state. Replay must give the newer state.
 */
import t from 'tap';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SHARED, runCe, json } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { compareWithHivex } from '../helpers/hivex.js';
import { hvleEntry, newFormatLog, oldFormatLog, makeDirty } from '../helpers/hive-log.js';
import { Hive } from '../../disk/hive/hive.js';
import { exportKeys } from '../../disk/hive/export.js';
import { REG } from '../../disk/hive/types.js';
import { baseBlockChecksum } from '../../disk/hive/base-block.js';

const FIXTURES = join(SHARED, 'fixtures/hives');

/** A clean base image (SAM, saved by us with sequence numbers 10) and two later states. */
async function states() {
  const h0 = Hive.fromBuffer(await readFile(join(FIXTURES, 'SAM')));
  const v0 = Buffer.from(h0.serialize(10));
  const h1 = Hive.fromBuffer(Buffer.from(v0));
  h1.root.createKey('Logged\\One').setValue('Step', REG.DWORD, 1);
  const v1 = Buffer.from(h1.serialize(11));
  const h2 = Hive.fromBuffer(Buffer.from(v1));
  h2.root.createKey('Logged\\Two').setValue('Big', REG.BINARY, Buffer.alloc(50000, 0xab)); // grows the bins
  h2.key('Logged\\One')!.setValue('Step', REG.DWORD, 2);
  const v2 = Buffer.from(h2.serialize(12));
  return { v0, v1, v2 };
}

t.test('new format (HvLE): entries split over LOG1 and LOG2 are replayed in order', async (t) => {
  const { v0, v1, v2 } = await states();
  const dir = await tempDir(t);
  const file = join(dir, 'SAM');
  await writeFile(file, makeDirty(v0, 10, 2));
  await writeFile(`${file}.LOG1`, newFormatLog(v0, 10, [hvleEntry(v0, v1, 10)]));
  await writeFile(`${file}.LOG2`, newFormatLog(v1, 11, [hvleEntry(v1, v2, 11)]));

  const h = await Hive.open(file);
  t.ok(h.dirty);
  t.same(h.replayedLog.map((r) => [r.log.endsWith('LOG1'), r.format, r.entries]), [[true, 'new', 1], [false, 'new', 1]]);
  t.equal(h.key('Logged\\One')?.value('Step')?.data, 2, 'the change from the second entry');
  t.equal(h.key('Logged\\Two')?.value('Big')?.raw.length, 50000);
  t.same(exportKeys(h), exportKeys(Hive.fromBuffer(Buffer.from(v2))), 'replayed = the newer state, key by key');

  // save: clean, the logs emptied (backups kept), the change stays; hivex sees it
  const saved = await h.save();
  t.equal(saved.logsCleared.length, 2);
  t.equal((await stat(`${file}.LOG1`)).size, 0);
  t.ok((await stat(`${file}.LOG1.ce-backup`)).size > 0);
  const again = await Hive.open(file);
  t.notOk(again.dirty);
  t.equal(again.replayedLog.length, 0);
  t.ok(again.nextSequence() > 12, 'our sequence number is above every log entry');
  t.equal((await compareWithHivex(file, exportKeys(again))).diff, undefined);
});

t.test('replay stops at a bad entry hash; a stale log is ignored', async (t) => {
  const { v0, v1, v2 } = await states();
  const e2 = hvleEntry(v1, v2, 11);
  e2[100] ^= 0xff; // damage the page data: Hash-1 no longer matches
  const h = Hive.fromBuffer(makeDirty(v0, 10, 2), { logData: [{ name: 'LOG1', data: newFormatLog(v0, 10, [hvleEntry(v0, v1, 10), e2]) }] });
  t.equal(h.key('Logged\\One')?.value('Step')?.data, 1, 'only the first entry applied');
  t.equal(h.key('Logged\\Two'), undefined);
  // a clean primary ignores log entries, even newer ones (and says so)
  const clean = Hive.fromBuffer(Buffer.from(v0), { logData: [{ name: 'LOG1', data: newFormatLog(v0, 10, [hvleEntry(v0, v1, 10)]) }] });
  t.notOk(clean.dirty);
  t.ok(clean.logsAhead);
  t.equal(clean.key('Logged'), undefined);
  // entries older than the primary's secondary sequence number are not applied
  t.throws(() => Hive.fromBuffer(makeDirty(v0, 20, 1), { logData: [{ name: 'LOG1', data: newFormatLog(v0, 10, [hvleEntry(v0, v1, 10)]) }] }), { code: 'HIVE_DIRTY' });
});

t.test('a log claiming a huge hive is not believed', async (t) => {
  const { v0, v1 } = await states();
  const e = hvleEntry(v0, v1, 10);
  e.writeUInt32LE(0xfffff000, 16); // hive bins size: almost 4 GiB
  const { marvin32 } = await import('../../disk/hive/marvin32.js');
  e.writeBigUInt64LE(marvin32(e.subarray(40)), 24);
  e.writeBigUInt64LE(marvin32(e.subarray(0, 32)), 32);
  t.throws(() => Hive.fromBuffer(makeDirty(v0, 10, 1), { logData: [{ name: 'LOG1', data: newFormatLog(v0, 10, [e]) }] }), { code: 'HIVE_DIRTY' });
});

t.test('a bad primary checksum is recovered from the log base block', async (t) => {
  const { v0, v1 } = await states();
  const bad = makeDirty(v0, 10, 1);
  bad.writeUInt32LE((bad.readUInt32LE(508) ^ 1) >>> 0, 508);
  t.throws(() => Hive.fromBuffer(Buffer.from(bad)), { code: 'HIVE_BAD_CHECKSUM' });
  const h = Hive.fromBuffer(bad, { logData: [{ name: 'LOG1', data: newFormatLog(v0, 10, [hvleEntry(v0, v1, 10)]) }] });
  t.equal(h.key('Logged\\One')?.value('Step')?.data, 1);
  t.equal(baseBlockChecksum(h.toBuffer()), h.toBuffer().readUInt32LE(508));
});

t.test('old format (DIRT bitmap) is replayed', async (t) => {
  const { v0, v2 } = await states();
  const primary = makeDirty(v0, 10, 1);
  const h = Hive.fromBuffer(primary, { logData: [{ name: 'SAM.LOG', data: oldFormatLog(primary, v2, 11) }] });
  t.same(h.replayedLog.map((r) => r.format), ['old']);
  t.equal(h.key('Logged\\One')?.value('Step')?.data, 2);
  t.same(exportKeys(h), exportKeys(Hive.fromBuffer(Buffer.from(v2))));
});

t.test('dirty without logs: HIVE_DIRTY, or as is with --accept-dirty; logs given with --log', async (t) => {
  const { v0, v1 } = await states();
  const dir = await tempDir(t);
  const file = join(dir, 'hive');
  await writeFile(file, makeDirty(v0, 10, 1));
  const r = await runCe(['hive', 'get', file, 'Logged\\One', '--json']);
  t.equal(json<{ error: { code: string } }>(r).error.code, 'HIVE_DIRTY');
  const a = await runCe(['hive', 'get', file, '', '--json', '--accept-dirty']);
  t.equal(a.exitCode, 0, a.stderr);
  await writeFile(join(dir, 'elsewhere.log'), newFormatLog(v0, 10, [hvleEntry(v0, v1, 10)]));
  const l = await runCe(['hive', 'get', file, 'Logged\\One', 'Step', '--json', '--log', join(dir, 'elsewhere.log')]);
  t.equal(l.exitCode, 0, l.stderr + l.stdout);
  t.equal(json<{ data: number }>(l).data, 1);
});
