/**
 * hivex is the oracle: every fixture hive is exported with `ce hive export --json` and compared,
 * key by key and value by value, with what one hivexsh process prints for the same keys.
 */
import t from 'tap';
import { join } from 'node:path';
import { runCe, json, SHARED } from '../helpers/cli.js';
import { compareWithHivex } from '../helpers/hivex.js';
import type { ExportedKey } from '../../disk/hive/export.js';

const FIXTURES = join(SHARED, 'fixtures/hives');
// SECURITY and SYSTEM_2 were taken from running machines without their logs: they are dirty.
const DIRTY = new Set(['SECURITY', 'SYSTEM_2']);

for (const name of ['minimal', 'special', 'SAM', 'SECURITY', 'SYSTEM_2']) {
  t.test(`${name}: ce hive export equals hivexsh for every key and value`, async (t) => {
    const file = join(FIXTURES, name);
    const r = await runCe(['hive', 'export', file, '--json', ...(DIRTY.has(name) ? ['--accept-dirty'] : [])]);
    t.equal(r.exitCode, 0, r.stderr);
    const out = json<{ dirty: boolean; keys: ExportedKey[] }>(r);
    t.equal(out.dirty, DIRTY.has(name), 'dirty flag from the base block');
    t.ok(out.keys.length > 0);
    const cmp = await compareWithHivex(file, out.keys);
    t.equal(cmp.diff, undefined, 'hivexsh output equals ours');
    t.equal(cmp.skipped.length, 0, 'every key reachable by hivexsh cd');
    t.equal(cmp.keys, out.keys.length);
    t.comment(`${name}: ${cmp.keys} keys, ${cmp.values} values compared`);
    if (name === 'SYSTEM_2') {
      // class names (hivexsh does not show them): the LSA boot-key parts are 8 hex digits each
      const lsa = ['JD', 'Skew1', 'GBG', 'Data'].map((n) => out.keys.find((k) => k.path === `ControlSet001\\Control\\Lsa\\${n}`)?.className);
      t.ok(lsa.every((c) => /^[0-9a-f]{8}$/.test(c ?? '')), `class names ${lsa.join(' ')}`);
    }
  });
}

t.test('a dirty hive without logs is refused unless accepted', async (t) => {
  const r = await runCe(['hive', 'get', join(FIXTURES, 'SYSTEM_2'), 'Select', '--json']);
  t.equal(r.exitCode, 1);
  t.equal(json<{ error: { code: string } }>(r).error.code, 'HIVE_DIRTY');
});

t.test('ce hive get: a key and one value, case-insensitive', async (t) => {
  const r = await runCe(['hive', 'get', join(FIXTURES, 'SYSTEM_2'), 'select', 'CURRENT', '--json', '--accept-dirty']);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(json(r), { name: 'Current', typeName: 'REG_DWORD', data: 1 });
  const k = await runCe(['hive', 'get', join(FIXTURES, 'SYSTEM_2'), 'ControlSet001\\Control\\Session Manager\\Memory Management', '--json', '--accept-dirty']);
  t.equal(k.exitCode, 0, k.stderr);
  const v = json<{ values: { name: string; data: unknown }[] }>(k).values.find((x) => x.name === 'PagingFiles');
  t.same(v?.data, ['?:\\pagefile.sys']);
  const missing = await runCe(['hive', 'get', join(FIXTURES, 'SAM'), 'No\\Such\\Key', '--json']);
  t.equal(json<{ error: { code: string } }>(missing).error.code, 'HIVE_KEY_NOT_FOUND');
});

t.test('ce hive check', async (t) => {
  const r = await runCe(['hive', 'check', join(FIXTURES, 'SAM'), '--json']);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(json(r), { ok: true, keys: 65, values: 70 });
});
