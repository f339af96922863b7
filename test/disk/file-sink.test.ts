/**
 * FileSink writes one system call at a time (disk/io/file.ts): many queued writes still land
 * byte for byte, contiguous ones are gathered, each write's promise resolves only once its bytes
 * are written, a failed write rejects its own callers, and truncate/sync/close wait for the queue.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { execa } from 'execa';
import { FileSink } from '../../disk/io/file.js';
import { alignedBuffers } from '../../disk/io/aligned.js';

const KiB = 1024;

t.test('queued writes in any order land exactly; truncate waits for them', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'out.bin');
  const sink = await FileSink.open(path);
  const size = 3 * 1024 * KiB + 512;
  const want = Buffer.alloc(size);
  const pieces: Array<[number, Buffer]> = [];
  // Contiguous runs (gathered), a gap (a hole), and writes queued behind the one in flight.
  for (let off = 0; off < 2 * 1024 * KiB; off += 64 * KiB) pieces.push([off, randomBytes(64 * KiB)]);
  pieces.push([size - 512, randomBytes(512)]);
  pieces.push([2 * 1024 * KiB + 4 * KiB, randomBytes(4 * KiB)]);
  for (const [off, b] of pieces) b.copy(want, off);
  const writes = pieces.map(([off, b], i) => (i % 3 === 0 ? sink.pwritev([b.subarray(0, 100), b.subarray(100)], off) : sink.pwrite(b, off)));
  await sink.truncate(size); // queued behind every write
  await Promise.all(writes);
  await sink.close();
  t.equal((await stat(path)).size, size);
  t.ok((await readFile(path)).equals(want), 'every byte as written');
});

t.test('each write resolves only after its bytes are in the file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'out.bin');
  const sink = await FileSink.open(path);
  const a = randomBytes(256 * KiB);
  const b = randomBytes(256 * KiB);
  const first = sink.pwrite(a, 0);
  const second = sink.pwrite(b, a.length);
  await second;
  // The first resolved no later than the second: both are on disk now.
  const got = await readFile(path);
  t.ok(got.subarray(0, a.length).equals(a));
  t.ok(got.subarray(a.length).equals(b));
  await first;
  await sink.close();
});

t.test('a failed write rejects its own callers and the queue goes on', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'out.bin');
  await writeFile(path, 'x');
  const ro = await open(path, 'r'); // writes fail with EBADF
  t.teardown(() => ro.close());
  const sink = FileSink.fromHandle(path, ro);
  const first = sink.pwrite(Buffer.from('abc'), 0);
  const second = sink.pwrite(Buffer.from('def'), 100); // not contiguous: its own system call
  await t.rejects(first, { code: 'EBADF' });
  await t.rejects(second, { code: 'EBADF' });
  await sink.truncate(1).catch(() => undefined); // the queue is idle again: this does not hang
  t.pass('queue drained after failures');
});

t.test('direct: page-aligned bulk data goes with O_DIRECT, the rest through the cache; same bytes either way', async (t) => {
  const dir = await tempDir(t, 'ce-direct-');
  const path = join(dir, 'out.bin');
  const sink = await FileSink.open(path, { direct: true });
  const [a, b] = alignedBuffers(1024 * KiB, 2);
  randomBytes(a!.length).copy(a!);
  randomBytes(b!.length).copy(b!);
  const meta = randomBytes(512); // unaligned memory and length: through the page cache
  const writes = [sink.pwrite(a!, 0), sink.pwrite(b!, 3 * 1024 * KiB), sink.pwrite(meta, 8 * 1024 * KiB), sink.pwrite(Buffer.from(b!.subarray(0, 8 * KiB)), 16 * KiB)];
  await Promise.all(writes);
  await sink.sync();
  const direct = sink.directBytes;
  await sink.close();
  const got = await readFile(path);
  const want = Buffer.alloc(8 * 1024 * KiB + 512);
  a!.copy(want, 0);
  b!.subarray(0, 8 * KiB).copy(want, 16 * KiB);
  b!.copy(want, 3 * 1024 * KiB);
  meta.copy(want, 8 * 1024 * KiB);
  t.ok(got.equals(want), 'mixed direct and cached writes read back exactly');
  // /tmp may be a tmpfs without O_DIRECT: then everything went through the cache, which is the fallback.
  const fs = (await execa('stat', ['-f', '-c', '%T', dir])).stdout.trim();
  if (fs === 'tmpfs') t.equal(direct, 0, 'tmpfs: cached writes only');
  else t.equal(direct, 2 * 1024 * KiB, `${fs}: the two aligned 1 MiB buffers went direct`);
});
