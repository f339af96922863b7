/**
 * `ce hive set/delete` on a copy of SYSTEM_2, read back with hivexget, hivexsh and our reader.
 */
import t from 'tap';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { runCe, json, SHARED } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { compareWithHivex } from '../helpers/hivex.js';
import { Hive } from '../../disk/hive/hive.js';
import { exportKeys, checkHive } from '../../disk/hive/export.js';

const FIXTURES = join(SHARED, 'fixtures/hives');

async function hivexget(file: string, key: string, value?: string): Promise<string> {
  const r = await execa('hivexget', value === undefined ? [file, key] : [file, key, value], { reject: false, env: { LC_ALL: 'C.UTF-8' } });
  if (r.exitCode !== 0) throw new Error(`hivexget ${key} ${value}: ${r.stderr}`);
  return String(r.stdout);
}

t.test('ce hive set: every common type, read back by hivexget and by us', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'SYSTEM');
  await copyFile(join(FIXTURES, 'SYSTEM_2'), file);
  const original = await readFile(file);
  const key = 'ControlSet001\\Services\\CeTest\\Parameters';
  const sets: [string, string, string[], string][] = [
    ['Str', 'REG_SZ', ['hello wörld'], 'hello wörld'],
    ['Multi', 'REG_MULTI_SZ', ['a', 'bc', 'déf'], 'a\nbc\ndéf\n'], // hivexget ends a multi-string list with an empty line
    ['Dw', 'REG_DWORD', ['0x10'], '16'],
    ['Qw', 'REG_QWORD', ['1234567890123'], '1234567890123'],
  ];
  for (const [name, type, data, shown] of sets) {
    const r = await runCe(['hive', 'set', file, key, name, '--type', type, ...data.flatMap((d) => ['--data', d]), '--json', '--accept-dirty']);
    t.equal(r.exitCode, 0, r.stderr + r.stdout);
    t.equal(await hivexget(file, key, name), shown, `hivexget ${name}`);
  }
  const backup = await readFile(`${file}.ce-backup`);
  t.ok(backup.equals(original), 'the backup is the original, not overwritten by later saves');

  const h = await Hive.open(file);
  t.notOk(h.dirty, 'our save leaves a clean hive');
  const k = h.key(key.toUpperCase())!;
  t.same(k.value('multi')?.data, ['a', 'bc', 'déf']);
  t.equal(k.value('dw')?.data, 16);
  t.equal(k.value('qw')?.data, 1234567890123n);
  t.equal(h.key('ControlSet001\\Services\\CeTest')?.subkeys().length, 1);
  t.ok(checkHive(h).ok);
  // the whole edited hive is still what hivex sees
  const cmp = await compareWithHivex(file, exportKeys(h));
  t.equal(cmp.diff, undefined, 'hivexsh agrees after the edits');

  const del = await runCe(['hive', 'delete', file, key, 'Str', '--json']);
  t.equal(del.exitCode, 0, del.stderr);
  t.notOk((await hivexget(file, key)).includes('"Str"'));
  const delKey = await runCe(['hive', 'delete', file, 'ControlSet001\\Services\\CeTest', '--json']);
  t.equal(delKey.exitCode, 0, delKey.stderr);
  const after = await Hive.open(file);
  t.equal(after.key('ControlSet001\\Services\\CeTest'), undefined);
  const gone = await runCe(['hive', 'delete', file, 'ControlSet001\\Services\\CeTest', '--json']);
  t.equal(json<{ error: { code: string } }>(gone).error.code, 'HIVE_KEY_NOT_FOUND');
});

