/**
 * The native data path (disk/native/copy.c via disk/convert/native-copy.ts) writes what the JS
 * path writes: for each writer it serves, `ce convert` with the addon and with CE_NATIVE_DISK=off
 * give outputs that qemu-img finds identical to the source, with the same layout (`qemu-img map`)
 * and file size. Errors keep their meaning: a source that shrinks is DISK_TRUNCATED, a full file
 * system NO_SPACE, bad arguments throw. CI must have the addon built (setup.sh runs
 * scripts/build-native.sh): a missing build step fails here instead of hiding behind the JS path.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { open, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../helpers/tmp.js';
import { runCe } from '../helpers/cli.js';
import { makeSparseRaw, qemuCompare } from '../helpers/disk-images.js';
import { nativeDisk, nativeDiskStatus, RUN_FILL, RUN_ZEROS, SKIP_ZEROS } from '../../disk/io/native-disk.js';
import { FileSink, FileSource } from '../../disk/io/file.js';
import { NativeCopier, nativeRoute } from '../../disk/convert/native-copy.js';
import { openDisk } from '../../disk/open.js';
import { convert } from '../../disk/convert/engine.js';

const MiB = 1 << 20;
const addon = nativeDisk();
if (process.env.CI === 'true') t.ok(addon, `CI builds the native disk addon (${nativeDiskStatus()})`);

const QEMU_FMT: Record<string, string> = { raw: 'raw', 'vhd-fixed': 'vpc', vhd: 'vpc', vhdx: 'vhdx', qcow2: 'qcow2', vmdk: 'vmdk' };

async function qemuMap(path: string, fmt: string): Promise<string> {
  const r = await execa('qemu-img', ['map', '--output=json', '-f', fmt, path]);
  return r.stdout;
}

/** The result line of `ce convert --json` (JSON lines: progress events, then the result). */
function result(stdout: string): { dataPath?: string } {
  const last = stdout.trim().split('\n').pop() ?? '';
  return last.startsWith('{') ? (JSON.parse(last) as { dataPath?: string }) : {};
}

/** Convert with both data paths; both must equal the source, with one layout. */
async function bothPaths(t: Test, dir: string, src: string, to: string, extra: string[] = [], srcFmt = 'raw', path = 'native'): Promise<void> {
  const name = `${basename(src).replace('.', '-')}-${to}${extra.join('')}`;
  const outs = { native: join(dir, `n-${name}.img`), js: join(dir, `j-${name}.img`) };
  const [n, j] = await Promise.all([
    runCe(['convert', src, outs.native, '--to', to, '--json', ...extra]),
    runCe(['convert', src, outs.js, '--to', to, '--json', ...extra], { env: { CE_NATIVE_DISK: 'off' } }),
  ]);
  t.equal(n.exitCode, 0, `${name}: native convert\n${n.stderr}`);
  t.equal(j.exitCode, 0, `${name}: JS convert\n${j.stderr}`);
  t.same([result(n.stdout).dataPath, result(j.stdout).dataPath], [path, 'js'], `${name}: the data paths taken`);
  const fmt = QEMU_FMT[to]!;
  t.equal((await qemuCompare(src, srcFmt, outs.native, fmt)).code, 0, `${name}: native output = source`);
  t.equal((await qemuCompare(src, srcFmt, outs.js, fmt)).code, 0, `${name}: JS output = source`);
  t.equal((await stat(outs.native)).size, (await stat(outs.js)).size, `${name}: same file size`);
  t.equal(await qemuMap(outs.native, fmt), await qemuMap(outs.js, fmt), `${name}: same layout (qemu-img map)`);
}

if (!addon) {
  t.test('native disk data path', { skip: `not available: ${nativeDiskStatus()}` }, async () => {});
} else {
  t.test('same bytes as the JS path: every writer it serves, odd sizes, holes or not', async (t) => {
    const dir = await tempDir(t);
    // Not a multiple of a block, grain or MiB; data runs, and written zeros inside the data.
    const src = join(dir, 'src.raw');
    const size = 37 * MiB + 7 * 512;
    await makeSparseRaw(src, size, 24, 7);
    const fh = await open(src, 'r+');
    await fh.write(Buffer.alloc(3 * MiB), 0, 3 * MiB, 12 * MiB); // allocated zeros
    await fh.write(randomBytes(4096), 0, 4096, 13 * MiB + 64 * 1024); // data among them
    await fh.write(randomBytes(512), 0, 512, size - 512); // the last sector
    await fh.close();
    for (const to of ['raw', 'vhd-fixed', 'vhd', 'vhdx', 'qcow2', 'vmdk']) await bothPaths(t, dir, src, to);
    for (const to of ['vhd', 'vhdx', 'vmdk']) await bothPaths(t, dir, src, to, ['--no-sparse']);
    await bothPaths(t, dir, src, 'raw', ['--no-fsync']);

    const empty = join(dir, 'empty.raw');
    await writeFile(empty, '');
    await truncate(empty, 8 * MiB);
    for (const to of ['vhd', 'vhdx', 'qcow2']) await bothPaths(t, dir, empty, to);

    // A VHDX source: its blocks are read where they lie in the file (mapped layout) by the flat
    // writers (raw, vhd-fixed); holes inside its blocks (qemu leaves them) and absent blocks read as zeros.
    const vhdx = join(dir, 'src.vhdx');
    await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=8M', src, vhdx]);
    for (const to of ['raw', 'vhd-fixed']) await bothPaths(t, dir, vhdx, to, [], 'vhdx');
    await bothPaths(t, dir, vhdx, 'raw', ['--no-sparse'], 'vhdx');
    await bothPaths(t, dir, vhdx, 'vhd', [], 'vhdx', 'js'); // the allocating writers need an identity layout

    // VHD sources: a fixed VHD's bytes are the disk's (every writer), a dynamic VHD's blocks are mapped.
    const fixed = join(dir, 'fixed.vhd');
    await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', src, fixed]);
    for (const to of ['raw', 'vhdx']) await bothPaths(t, dir, fixed, to, [], 'vpc');
    const dynamic = join(dir, 'dynamic.vhd');
    await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic,force_size=on', src, dynamic]);
    await bothPaths(t, dir, dynamic, 'raw', [], 'vpc');
    await bothPaths(t, dir, dynamic, 'qcow2', [], 'vpc', 'js');
  });

  t.test('runs: copy, zeros, fill, skipped zero pieces; scan flags', async (t) => {
    const dir = await tempDir(t);
    const data = randomBytes(3 * MiB);
    data.fill(0, MiB, MiB + 64 * 1024); // one zero piece
    await writeFile(join(dir, 'src'), data);
    const src = await open(join(dir, 'src'), 'r');
    const dst = await open(join(dir, 'dst'), 'w+');
    t.teardown(async () => {
      await src.close();
      await dst.close();
    });
    const fill = Buffer.alloc(512, 0xab);
    const runs = Float64Array.from([0, 0, 2 * MiB, RUN_ZEROS, 2 * MiB, 4096, RUN_FILL, 2 * MiB + 4096, 512]);
    const [written] = await addon.copy(src.fd, dst.fd, -1, runs, 64 * 1024, SKIP_ZEROS, fill);
    t.equal(written, 2 * MiB - 64 * 1024 + 4096 + 512, 'the zero piece was not written');
    const out = Buffer.alloc(2 * MiB + 4608);
    await dst.read(out, 0, out.length, 0);
    t.ok(out.subarray(0, 2 * MiB).equals(data.subarray(0, 2 * MiB)), 'copied bytes (the skipped piece reads back as a hole)');
    t.ok(out.subarray(2 * MiB, 2 * MiB + 4096).every((b) => b === 0), 'zeros');
    t.ok(out.subarray(2 * MiB + 4096).equals(fill), 'fill');
    const flags = await addon.scan(src.fd, Float64Array.from([0, 2 * MiB, 3 * MiB - 1000, 1000]), MiB);
    t.same([...flags], [1, 1, 1], 'one flag per piece; a short last run counts');
    const pieces = await addon.scan(src.fd, Float64Array.from([MiB, 128 * 1024]), 64 * 1024);
    t.same([...pieces], [0, 1]);
  });

  t.test('errors: a shrunken source is DISK_TRUNCATED, bad arguments throw, nothing crashes', async (t) => {
    const dir = await tempDir(t);
    const srcPath = join(dir, 'src.raw');
    await writeFile(srcPath, randomBytes(4 * MiB));
    const disk = await openDisk(srcPath);
    const sink = await FileSink.open(join(dir, 'out.raw'));
    t.teardown(async () => {
      await disk.close();
      await sink.close().catch(() => {});
    });
    t.ok(disk.source instanceof FileSource);
    const route = nativeRoute(disk, sink);
    t.ok(route, 'raw file → file sink takes the native path');
    await truncate(srcPath, MiB); // shrinks under the open disk
    const copier = new NativeCopier(route!, { skipZeros: true, piece: 64 * 1024 }, {});
    await copier.add(0, 0, 4 * MiB, 4 * MiB);
    await t.rejects(copier.flush(), { code: 'DISK_TRUNCATED' });
    await t.rejects(addon.scan((disk.source as FileSource).fd, Float64Array.from([0, 4 * MiB]), MiB), { code: 'DISK_SHORT_READ' });
    t.throws(() => addon.copy(-1, -1, -1, new Float64Array(0), 1000, 0), /piece/);
    t.throws(() => addon.scan(0, new Float64Array(0), 0), /piece/);
    t.throws(() => (addon.copy as unknown as () => void)(), /copy\(/);
    t.equal(addon.fallocate(-1, 0, 4096), 9, 'fallocate on a bad descriptor: EBADF');
  });

  const root = process.getuid?.() === 0;
  t.test('a full file system is NO_SPACE, and no partial output stays', { skip: root ? false : 'mounting a small tmpfs needs root' }, async (t) => {
    const dir = await tempDir(t);
    const src = join(dir, 'src.raw');
    await writeFile(src, randomBytes(12 * MiB));
    const mnt = join(dir, 'small');
    await execa('mkdir', [mnt]);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'ce-test', mnt]);
    t.teardown(() => execa('umount', [mnt]).then(() => undefined));
    for (const to of ['raw', 'vhd', 'vhdx']) {
      await t.rejects(convert(src, join(mnt, `out.${to}`), { to }), { code: 'NO_SPACE' }, `${to}: NO_SPACE`);
      t.same(await readdir(mnt), [], `${to}: no partial output left`);
    }
  });
}
