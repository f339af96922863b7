/**
 * `ce prepare` safety: a crash (SIGKILL) and a SIGTERM between the hive backup and the save, the
 * raw-view write-back of a VHDX, and the hivex fallback's write path. Split from prepare.test.ts so
 * tap runs the two files in parallel.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { needs } from '../helpers/env.js';
import { json, runCe, ROOT } from '../helpers/cli.js';
import { buildWindowsDisk, sha256, optionsFile, hiveOut, readHiveValue, waitNoLoops, type WindowsDisk } from '../helpers/windows-disk.js';
import { prepareWindows, type PrepareResult } from '../../disk/windows/prepare.js';
import { inspectTarget } from '../../disk/windows/inspect.js';

const skip = needs({ root: true, loop: true, fuse: true });
const MM = 'ControlSet001\\Control\\Session Manager\\Memory Management';
const dirs: string[] = [];

async function build(tt: Parameters<typeof buildWindowsDisk>[0], o: Parameters<typeof buildWindowsDisk>[1]): Promise<WindowsDisk> {
  const d = await buildWindowsDisk(tt, o);
  dirs.push(d.dir);
  return d;
}

/** Unmount and detach whatever a killed CE left on images under dir (the ntfs-3g daemon outlives it; works after the dir is gone too). */
async function cleanupAfterKill(dir: string): Promise<void> {
  const loops = (await execa('losetup', ['-a'])).stdout.split('\n').filter((l) => l.includes(dir)).map((l) => l.split(':')[0]);
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' '));
  for (const dev of loops) {
    for (const m of mounts) if (m[0] === dev) await execa('umount', [m[1]], { reject: false });
    for (let i = 0; i < 50 && (await execa('fuser', ['-s', dev], { reject: false })).exitCode === 0; i++) await new Promise((r) => setTimeout(r, 100));
    await execa('losetup', ['-d', dev], { reject: false });
  }
}

t.test('killtest: killed between backup and save: the old hive and its backup, both valid', { skip }, async (t) => {
  const d = await build(t, { scheme: 'mbr' });
  const opts = await optionsFile(d.dir, { ceVmSku: 'Standard_D2s_v3' });
  t.teardown(() => cleanupAfterKill(d.dir));
  const r = await runCe(['prepare', d.path, '--options', opts, '--json'], { env: { CE_TEST_HOOK: 'after-backup:kill' } });
  t.not(r.exitCode, 0, 'the process was killed');
  t.match(r.stderr, /CE_TEST_HOOK reached after-backup/);
  await cleanupAfterKill(d.dir);
  const sys = await hiveOut(d, 'SYSTEM');
  t.equal(await readHiveValue(sys, MM, 'PagingFiles'), '?:\\pagefile.sys', 'the old hive');
  const bak = await hiveOut(d, 'SYSTEM.ce-backup');
  t.equal(await sha256(bak), await sha256(sys), 'and its backup');
  // The image is still usable: a new run completes.
  const ok = await runCe(['prepare', d.path, '--options', opts, '--json']);
  t.equal(ok.exitCode, 0, ok.stderr);
  t.equal(await readHiveValue(await hiveOut(d, 'SYSTEM'), MM, 'PagingFiles'), 'D:\\pagefile.sys 0 0', 'then the new one');
  t.equal(await sha256(await hiveOut(d, 'SYSTEM.ce-backup')), await sha256(bak), 'the first backup is kept');
});

t.test('sigterm: SIGTERM between backup and save unmounts and detaches before exiting', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt' });
  const opts = await optionsFile(d.dir, { ceVmSku: 'Standard_D2s_v3' });
  t.teardown(() => cleanupAfterKill(d.dir));
  const child = execa(process.execPath, ['--import', 'tsx', `${ROOT}ce-server/cli/main.ts`, 'prepare', d.path, '--options', opts], {
    reject: false,
    cwd: ROOT,
    env: { CE_TEST_HOOK: 'after-backup:pause' },
  });
  await new Promise<void>((resolve) => {
    child.stderr?.on('data', (b: Buffer) => {
      if (b.toString().includes('CE_TEST_HOOK reached')) resolve();
    });
  });
  t.ok((await execa('losetup', ['-j', d.path])).stdout.length > 0, 'mounted while paused');
  child.kill('SIGTERM');
  const res = await child;
  t.equal(res.exitCode, 143, 'exit 128+15');
  t.same(await waitNoLoops(d.dir), [], 'no loop device left');
  t.equal(await readHiveValue(await hiveOut(d, 'SYSTEM'), MM, 'PagingFiles'), '?:\\pagefile.sys');
});

t.test('prepare through a VHDX: edited in a raw view and written back', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt', joined: true });
  const vhdx = join(d.dir, 'disk.vhdx');
  await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', d.path, vhdx]);
  const r = await prepareWindows(vhdx, { ceVmSku: 'Standard_D2s_v3', domainUnjoin: 'offline' }, { dryRun: false });
  t.ok(r.report);
  const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', vhdx])).stdout);
  t.equal(info.format, 'vhdx', 'still a VHDX');
  const i = await inspectTarget(vhdx);
  t.match(i.membership, { kind: 'workgroup', name: 'WORKGROUP' });
  t.same(i.pagefile.pagingFiles, ['D:\\pagefile.sys 0 0']);
  t.same(await waitNoLoops(d.dir), []);
});

t.test('the hivex fallback applies the same edits (CE_HIVE_IMPL=hivex)', { skip }, async (t) => {
  const d = await build(t, { scheme: 'mbr', joined: true });
  const opts = await optionsFile(d.dir, { ceVmSku: 'Standard_D2s_v3', domainUnjoin: 'offline' });
  const r = await runCe(['prepare', d.path, '--options', opts, '--json'], { env: { CE_HIVE_IMPL: 'hivex' } });
  t.equal(r.exitCode, 0, r.stderr);
  t.equal(json<PrepareResult>(r).hiveLibrary, 'hivex');
  const sys = await hiveOut(d, 'SYSTEM');
  t.equal(await readHiveValue(sys, MM, 'PagingFiles'), 'D:\\pagefile.sys 0 0');
  t.notMatch((await execa('hivexget', [sys, 'MountedDevices'])).stdout, /DosDevices\\\\D:/);
  const sec = await hiveOut(d, 'SECURITY');
  t.notMatch((await execa('hivexsh', [sec], { input: 'cd Policy\\Secrets\nls\n' })).stdout, /\$MACHINE\.ACC/);
  // …and the TS library reads the result back as a workgroup machine.
  t.match((await inspectTarget(d.path)).membership, { kind: 'workgroup', name: 'WORKGROUP', machineSecret: false });
});

t.test('no loop device left behind', { skip }, async (t) => {
  for (const dir of dirs) t.same(await waitNoLoops(dir), [], dir);
});
