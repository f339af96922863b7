/**
 * `ce inspect` on synthetic Windows disks with real NTFS (mkntfs + ntfs-3g), MBR and GPT, the real
 * hives from ../shared/fixtures/hives, a hibernated and an unclean volume, dirty hives with and
 * without logs, and a VHDX made from the raw disk. Every run must leave no loop device behind.
 */
import t from 'tap';
import { join } from 'node:path';
import { execa } from 'execa';
import { needs } from '../helpers/env.js';
import { json, runCe } from '../helpers/cli.js';
import { buildWindowsDisk, waitNoLoops, type WindowsDisk } from '../helpers/windows-disk.js';
import type { WindowsInspection } from '../../disk/windows/inspect.js';
import { inspectTarget } from '../../disk/windows/inspect.js';

const skip = needs({ root: true, loop: true, fuse: true });
const dirs: string[] = [];
const build = async (tt: Parameters<typeof buildWindowsDisk>[0], o: Parameters<typeof buildWindowsDisk>[1]): Promise<WindowsDisk> => {
  const d = await buildWindowsDisk(tt, o);
  dirs.push(d.dir);
  return d;
};

t.test('MBR/BIOS disk: product, build, hostname, workgroup, pagefile, drive letters, Citrix', { skip }, async (t) => {
  const d = await build(t, { scheme: 'mbr', citrix: { vda: '2203.0.100.15', misa: true, pvs: true } });
  const r = await runCe(['inspect', d.path, '--json']);
  t.equal(r.exitCode, 0, r.stderr);
  const i = json<WindowsInspection>(r);
  t.equal(i.bootMode, 'bios');
  t.equal(i.partitionTable.kind, 'mbr');
  t.equal(i.windowsPartition.offset, 0x15f00000, 'the second NTFS (C:) is found, not System Reserved');
  t.match(i.product, { name: 'Windows 10 Enterprise', edition: 'Enterprise', version: '10.0', displayVersion: '22H2', build: 19045, ubr: 3359, architecture: 'x64' });
  t.equal(i.hostname, 'SENSEI');
  t.equal(i.controlSets.current, 'ControlSet001');
  t.match(i.membership, { kind: 'workgroup', name: 'WORKGROUP', machineSecret: false });
  t.same(i.pagefile.pagingFiles, ['?:\\pagefile.sys']);
  t.match(i.driveLetters, [{ letter: 'C:', points: 'windows-volume' }, { letter: 'D:', points: 'cdrom' }]);
  t.match(i.citrix, { vda: { version: '2203.0.100.15', listOfDDCs: 'ddc1.contoso.local ddc2.contoso.local' }, misa: { version: '7.33.0.17' }, pvs: { services: ['bnistack', 'cvhdmp'] } });
  t.notOk(i.citrix.mcsio);
  t.match(i.hibernation, { volumeHibernated: false, fastStartup: true });
  t.equal(i.hiveLibrary, 'ts');
  // The hivex fallback (hivexml) must see the same image the same way: two readers as each other's oracle.
  const hx = await runCe(['inspect', d.path, '--json'], { env: { CE_HIVE_IMPL: 'hivex' } });
  t.equal(hx.exitCode, 0, hx.stderr);
  t.same({ ...json<WindowsInspection>(hx), hiveLibrary: 'ts' }, i, 'hivex fallback agrees');
  t.same(await waitNoLoops(d.dir), []);
});

t.test('GPT/UEFI disk: ESP, domain membership from SECURITY, MCSIO, human output; VHDX of it too', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt', joined: true, citrix: { vda: '2402.0.0.1', mcsio: true } });
  const i = await inspectTarget(d.path);
  t.equal(i.bootMode, 'uefi');
  t.match(i.esp, { bootmgfw: true, fallbackBootx64: false });
  t.match(i.membership, { kind: 'domain', name: 'CONTOSO', dnsDomain: 'contoso.local', forest: 'contoso.local', machineSecret: true, cachedLogons: 1, tcpipDomain: 'contoso.local' });
  t.match(i.membership.domainSid, /^S-1-5-21-/);
  t.match(i.citrix.mcsio, { service: true, start: 0, driverFile: true });
  t.match(i.driveLetters, [{ letter: 'C:', target: { kind: 'gpt' }, points: 'windows-volume' }, { letter: 'D:', points: 'cdrom' }]);

  const human = await runCe(['inspect', d.path]);
  t.equal(human.exitCode, 0, human.stderr);
  t.match(human.stdout, /membership:\s+domain CONTOSO \(contoso\.local\)/);
  t.match(human.stdout, /boot uefi/);

  // The same disk as VHDX (qemu-img writes it; the disk engine will after the merge): inspected through a raw view.
  const vhdx = join(d.dir, 'disk.vhdx');
  await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', d.path, vhdx]);
  const v = await inspectTarget(vhdx);
  t.equal(v.format, 'vhdx');
  t.equal(v.membership.name, 'CONTOSO');
  const vmdk = join(d.dir, 'disk.vmdk');
  await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', d.path, vmdk]);
  t.match(await inspectTarget(vmdk), { format: 'vmdk', bootMode: 'uefi', membership: { name: 'CONTOSO' } });
  // A fixed VHD is raw data plus a footer: used in place, no copy.
  const vhd = join(d.dir, 'disk.vhd');
  await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', d.path, vhd]);
  t.match(await inspectTarget(vhd), { format: 'vhd-fixed', membership: { name: 'CONTOSO' } });
  t.same(await waitNoLoops(d.dir), []);
});

t.test('a hibernated volume is refused unless a read-only inspection is allowed', { skip }, async (t) => {
  const d = await build(t, { scheme: 'mbr', hibernated: true });
  const r = await runCe(['inspect', d.path, '--json']);
  t.equal(r.exitCode, 1);
  const e = json<{ error: { code: string; hint: string } }>(r).error;
  t.equal(e.code, 'NTFS_HIBERNATED');
  t.match(e.hint, /powercfg \/h off/);
  const ok = await runCe(['inspect', d.path, '--json', '--allow-unsafe']);
  t.equal(ok.exitCode, 0, ok.stderr);
  t.match(json<WindowsInspection>(ok).hibernation, { volumeHibernated: true, hiberfil: { signature: 'hibr' } });
  t.same(await waitNoLoops(d.dir), []);
});

t.test('an unclean volume (NTFS dirty flag) is NTFS_DIRTY', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt', dirtyVolume: true });
  await t.rejects(inspectTarget(d.path), { code: 'NTFS_DIRTY' });
  const i = await inspectTarget(d.path, { allowUnsafe: true });
  t.equal(i.hibernation.volumeDirty, true);
  t.same(await waitNoLoops(d.dir), []);
});

t.test('dirty SYSTEM hive: replayed from its .LOG1, or refused without logs', { skip }, async (t) => {
  const withLogs = await build(t, { scheme: 'gpt', dirtySystem: 'with-logs' });
  const i = await inspectTarget(withLogs.path);
  t.equal(i.hostname, 'LOGGEDNAME', 'the change that lives only in the log is seen');
  t.match(i.hives.SYSTEM, { dirty: true, logs: 1 });
  const noLogs = await build(t, { scheme: 'gpt', dirtySystem: 'no-logs' });
  await t.rejects(inspectTarget(noLogs.path), { code: 'HIVE_DIRTY' });
  const unsafe = await inspectTarget(noLogs.path, { allowUnsafe: true });
  t.equal(unsafe.hostname, 'SENSEI');
  t.match(unsafe.warnings.join(' '), /SYSTEM hive is dirty/);
  t.same(await waitNoLoops(noLogs.dir), []);
});

t.test('not a Windows disk / not a disk', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt' });
  const r = await runCe(['inspect', join(d.dir, 'missing.raw'), '--json']);
  t.equal(json<{ error: { code: string } }>(r).error.code, 'SOURCE_NOT_FOUND');
  await execa('truncate', ['-s', '8M', join(d.dir, 'blank.raw')]);
  await t.rejects(inspectTarget(join(d.dir, 'blank.raw')), { code: 'WINDOWS_NOT_FOUND' });
});

t.test('no loop device left behind', { skip }, async (t) => {
  for (const dir of dirs) t.same(await waitNoLoops(dir), [], dir);
});
