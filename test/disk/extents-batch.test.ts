/**
 * Data extents come in batches of EXTENTS_PER_REPLY (core/seek-data.ts: one round trip from a job
 * thread per batch): a file with more extents than one batch still lists every one, in order.
 */
import t from 'tap';
import { open } from 'node:fs/promises';
import { EXTENTS_PER_REPLY } from '../../core/seek-data.js';
import { dataExtents } from '../../disk/raw/extents.js';
import { FileSource } from '../../disk/io/file.js';
import { tempDir } from '../helpers/tmp.js';

t.test('more extents than one batch', { skip: process.platform !== 'linux' && 'SEEK_DATA is Linux only' }, async (t) => {
  const path = `${await tempDir(t)}/many.raw`;
  const n = EXTENTS_PER_REPLY * 2 + 7;
  const stride = 64 * 1024;
  const fh = await open(path, 'w');
  await fh.truncate(n * stride + stride);
  for (let i = 0; i < n; i++) await fh.write(Buffer.alloc(4096, 1), 0, 4096, i * stride + stride / 2);
  await fh.close();
  const src = await FileSource.open(path);
  t.teardown(() => src.close());
  const got: Array<[number, number]> = [];
  for await (const e of dataExtents(src, src.size)) got.push(e);
  if (got.length === 1) return void t.pass('this file system does not report holes');
  t.equal(got.length, n, 'every extent');
  t.same(got[0], [stride / 2, stride / 2 + 4096]);
  t.same(got.at(-1), [(n - 1) * stride + stride / 2, (n - 1) * stride + stride / 2 + 4096]);
  t.ok(got.every((e, i) => i === 0 || e[0] > got[i - 1]![1]), 'ascending, disjoint');
  const limited: Array<[number, number]> = [];
  for await (const e of dataExtents(src, 10 * stride)) limited.push(e);
  t.equal(limited.length, 10, 'the limit is kept');
});
