/**
 * `ce prepare` on synthetic Windows disks with real NTFS: dry run leaves the image byte-identical;
 * apply relocates the pagefile by SKU, unjoins offline, turns Fast Startup off, backs up every hive;
 * results are read back with hivexget from files copied out of the unmounted image (ntfscat).
 * Also: SKU classes, not-joined no-op, firstBoot staging, dirty hives, hibernation, the job types.
 * Crash/SIGTERM, VHDX and the hivex fallback are in prepare-safety.test.ts.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { needs } from '../helpers/env.js';
import { json, runCe } from '../helpers/cli.js';
import { buildWindowsDisk, sha256, optionsFile, hiveOut, extractFromDisk, readHiveValue, waitNoLoops, type WindowsDisk } from '../helpers/windows-disk.js';
import { buildPlan, prepareWindows, type PrepareResult } from '../../disk/windows/prepare.js';
import { withWindowsImage } from '../../disk/windows/image.js';

const skip = needs({ root: true, loop: true, fuse: true });
const MM = 'ControlSet001\\Control\\Session Manager\\Memory Management';
const dirs: string[] = [];

async function build(tt: Parameters<typeof buildWindowsDisk>[0], o: Parameters<typeof buildWindowsDisk>[1]): Promise<WindowsDisk> {
  const d = await buildWindowsDisk(tt, o);
  dirs.push(d.dir);
  return d;
}

t.test('joined GPT disk, Standard_D2s_v3 + offline unjoin: dry run is byte-identical, apply edits, re-run is a no-op', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt', joined: true, citrix: { vda: '2402.0.0.1' } });
  const opts = await optionsFile(d.dir, { platform: 'azure', ceVmSku: 'Standard_D2s_v3', domainUnjoin: 'offline', installMcsio: true });
  const before = await sha256(d.path);
  const dry = await runCe(['prepare', d.path, '--options', opts, '--dry-run', '--json']);
  t.equal(dry.exitCode, 0, dry.stderr);
  t.equal(await sha256(d.path), before, 'dry run leaves the image byte-identical');
  const plan = json<PrepareResult>(dry);
  t.equal(plan.dryRun, true);
  t.notOk(plan.report);
  const wheres = plan.changes.map((c) => c.where);
  t.ok(wheres.includes(`HKLM\\SYSTEM\\${MM}\\PagingFiles`));
  t.ok(wheres.includes('HKLM\\SYSTEM\\MountedDevices\\\\DosDevices\\D:'), 'the stale CD-ROM D: goes');
  t.ok(wheres.includes('HKLM\\SECURITY\\Policy\\Secrets\\$MACHINE.ACC'));
  t.match(plan.changes.find((c) => c.where.endsWith('PagingFiles')), { before: { data: ['?:\\pagefile.sys'] }, after: { data: ['D:\\pagefile.sys 0 0'] } });
  t.match(plan.sku, { tempDisk: 'formatted', letter: 'D:' });
  t.match(plan.warnings.join(' '), /not supported by Microsoft/);
  t.match(plan.notes.join(' '), /removes \(disables\) the computer account/);

  const human = await runCe(['prepare', d.path, '--options', opts, '--dry-run']);
  t.match(human.stdout, /Dry run \(nothing written\)/);
  t.match(human.stdout, /before: \["\?:\\\\pagefile\.sys"\]/);
  t.equal(await sha256(d.path), before);

  const origSystem = await hiveOut(d, 'SYSTEM');
  const applied = await runCe(['prepare', d.path, '--options', opts, '--json']);
  t.equal(applied.exitCode, 0, applied.stderr);
  const res = json<PrepareResult>(applied);
  t.same(res.report?.hives.map((h) => h.hive).sort(), ['SECURITY', 'SOFTWARE', 'SYSTEM']);
  t.equal(res.report?.hives.find((h) => h.hive === 'SYSTEM')?.backup, 'C:\\Windows\\System32\\config\\SYSTEM.ce-backup');

  const sys = await hiveOut(d, 'SYSTEM');
  t.equal(await readHiveValue(sys, MM, 'PagingFiles'), 'D:\\pagefile.sys 0 0');
  const md = await execa('hivexget', [sys, 'MountedDevices']);
  t.notMatch(md.stdout, /DosDevices\\\\D:/, 'D: removed');
  t.match(md.stdout, /DosDevices\\\\C:/, 'C: untouched');
  t.equal(await readHiveValue(sys, 'ControlSet001\\Services\\Tcpip\\Parameters', 'Domain'), '');
  t.equal(await readHiveValue(sys, 'ControlSet001\\Services\\Tcpip\\Parameters', 'NV Domain'), '');
  t.equal(await readHiveValue(sys, 'ControlSet001\\Services\\Netlogon', 'Start'), '3');
  t.equal(await readHiveValue(sys, 'ControlSet001\\Control\\Session Manager\\Power', 'HiberbootEnabled'), '0');
  const sec = await hiveOut(d, 'SECURITY');
  const pol = await execa('hivexsh', [sec], { input: 'cd Policy\\PolPrDmN\nlsval\ncd \\Policy\\PolPrDmS\nlsval\ncd \\Policy\\Secrets\nls\ncd \\Cache\nlsval\n' });
  t.match(pol.stdout, /"@"=hex\(0\):12,00,14,00,08,00,00,00,57,00,4f,00,52,00,4b,00,47,00,52,00,4f,00,55,00,50,00,00,00/, 'PolPrDmN = WORKGROUP');
  t.match(pol.stdout, /"@"=hex\(0\):\n/, 'PolPrDmS empty');
  t.notMatch(pol.stdout, /\$MACHINE\.ACC/, 'machine secret deleted');
  t.match(pol.stdout, /"NL\$1"=hex\(3\):00,00,00,00/, 'cached logon wiped');
  const sw = await hiveOut(d, 'SOFTWARE');
  t.equal(await readHiveValue(sw, 'Microsoft\\Windows NT\\CurrentVersion\\Winlogon', 'DefaultDomainName'), '');
  // The backup is the state before the CE touched the hive.
  const backup = await hiveOut(d, 'SYSTEM.ce-backup');
  t.equal(await sha256(backup), await sha256(origSystem), 'SYSTEM.ce-backup equals the original');

  const again = await prepareWindows(d.path, { ceVmSku: 'Standard_D2s_v3', domainUnjoin: 'offline' }, { dryRun: false });
  t.same(again.changes, [], 'a second run changes nothing');
  t.match(again.notes.join(' '), /Not joined to a domain \(workgroup WORKGROUP\)/);
  t.match(again.notes.join(' '), /PagingFiles already/);
  t.same(await waitNoLoops(d.dir), []);
});

t.test('SKU classes on a workgroup MBR disk (dry runs)', { skip }, async (t) => {
  const d = await build(t, { scheme: 'mbr' });
  const noTemp = await runCe(['prepare', d.path, '--options', await optionsFile(d.dir, { ceVmSku: 'Standard_D4s_v5' }), '--dry-run', '--json']);
  t.equal(noTemp.exitCode, 1);
  t.equal(json<{ error: { code: string } }>(noTemp).error.code, 'SKU_NO_TEMP_DISK');
  // One read-only mount, several plans (the hives are opened once).
  await withWindowsImage(d.path, { readOnly: true }, async (img) => {
    await t.rejects(buildPlan(img, { ceVmSku: 'Standard_D2s_v3', maxResourceVolumeMB: 0 }), { code: 'SKU_NO_TEMP_DISK' }, 'capability value 0 wins');
    const ddsv4 = (await buildPlan(img, { ceVmSku: 'Standard_D4ds_v4' })).plan;
    t.match(ddsv4.changes.find((c) => c.where.endsWith('PagingFiles')), { after: { data: ['D:\\pagefile.sys 0 0'] } });
    const v6 = (await buildPlan(img, { ceVmSku: 'Standard_D4ds_v6', installMcsio: true, domainUnjoin: 'offline' })).plan;
    t.notOk(v6.changes.some((c) => c.module === 'pagefile'), 'raw NVMe temp disk: pagefile stays on C:');
    t.match(v6.warnings.join(' '), /MCS I\/O keeps its cache in D:\\mcsdif\.vhdx, but the temp disk of Standard_D4ds_v6 is raw/);
    t.match(v6.notes.join(' '), /Not joined to a domain \(workgroup WORKGROUP\): nothing to unjoin/);
    t.notOk(v6.changes.some((c) => c.module === 'domain'), 'unjoin of a workgroup machine is a no-op');
    const aws = await buildPlan(img, { platform: 'aws', ceVmSku: 'm5d.large', installMcsio: true });
    t.equal(aws.sku?.tempDisk, 'raw');
    t.notOk(aws.plan.changes.some((c) => c.module === 'pagefile'));
    t.match(aws.plan.warnings.join(' '), /MCS I\/O/);
    const gcp = await buildPlan(img, { platform: 'gcp', ceVmSku: 'n2-standard-4', disableFastStartup: false });
    t.equal(gcp.sku?.tempDisk, 'none');
    t.same(gcp.plan.changes, []);
  });
  const bad = await runCe(['prepare', d.path, '--options', await optionsFile(d.dir, { domainUnjoin: 'yes' }), '--json']);
  t.equal(json<{ error: { code: string } }>(bad).error.code, 'PREPARE_BAD_OPTIONS');

  // The job types the server offers run the same code.
  const { jobTypes } = await import('../../ce-server/jobs/job-types.js');
  const byType = new Map(jobTypes.map((j) => [j.type, j]));
  t.ok(byType.has('inspect-windows') && byType.has('prepare'));
  const steps: string[] = [];
  const { silentLogger } = await import('../../core/logger.js');
  const ctx = (options: unknown, dryRun: boolean) => ({
    jobId: 'j1', options, dryRun, signal: new AbortController().signal, progress: () => undefined, step: (s: string) => steps.push(s),
    log: silentLogger, workDir: d.dir, checkpoint: { get: () => undefined, save: async () => undefined },
  });
  const source = { kind: 'file', path: d.path };
  t.throws(() => byType.get('prepare')!.validate!({ source, prepare: { platform: 'mars' } }), { code: 'PREPARE_BAD_OPTIONS' });
  const jr = (await byType.get('prepare')!.run(ctx({ source, prepare: { ceVmSku: 'Standard_D2s_v3' } }, true))) as PrepareResult;
  t.equal(jr.dryRun, true);
  t.ok(jr.changes.length > 0);
  t.ok(steps.includes('plan'));
  const ji = (await byType.get('inspect-windows')!.run(ctx({ source }, false))) as { bootMode: string };
  t.equal(ji.bootMode, 'bios');
  t.same(await waitNoLoops(d.dir), []);
});

t.test('firstBoot unjoin stages a script for the runner and requires isolation', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt', joined: true });
  await t.rejects(prepareWindows(d.path, { domainUnjoin: 'firstBoot', networkIsolation: false }, { dryRun: true }), { code: 'DOMAIN_UNJOIN_NEEDS_ISOLATION' });
  const r = await prepareWindows(d.path, { domainUnjoin: 'firstBoot', pagefile: false, disableFastStartup: false }, { dryRun: false });
  t.equal(r.changes.length, 1);
  t.match(r.changes[0], { kind: 'stage-script', name: 'unjoin-domain', language: 'powershell', requires: ['network-isolation'] });
  t.match((r.changes[0] as unknown as { content: string }).content, /Remove-Computer -WorkgroupName 'WORKGROUP' -Force/);
  t.equal(r.report?.deferred.length, 1, 'left for the vda/ first-boot runner');
  t.match(r.warnings.join(' '), /removes \(disables\) the computer account/);
  const sec = await hiveOut(d, 'SECURITY');
  const ls = await execa('hivexsh', [sec], { input: 'cd Policy\\Secrets\nls\n' });
  t.match(ls.stdout, /\$MACHINE\.ACC/, 'offline state untouched');
});

t.test('dirtysys: dirty SYSTEM with logs is replayed, saved clean, its logs backed up and emptied; without logs refused', { skip }, async (t) => {
  const d = await build(t, { scheme: 'gpt', dirtySystem: 'with-logs' });
  const r = await prepareWindows(d.path, { ceVmSku: 'Standard_D2s_v3' }, { dryRun: false });
  const sysReport = r.report?.hives.find((h) => h.hive === 'SYSTEM');
  t.same(sysReport?.logsEmptied, ['C:\\Windows\\System32\\config\\SYSTEM.LOG1']);
  const sys = await hiveOut(d, 'SYSTEM');
  t.equal(await readHiveValue(sys, 'ControlSet001\\Control\\ComputerName\\ComputerName', 'ComputerName'), 'LOGGEDNAME', 'the replayed change is kept');
  t.equal(await readHiveValue(sys, MM, 'PagingFiles'), 'D:\\pagefile.sys 0 0');
  const hdr = (await readFile(sys)).subarray(0, 12);
  t.equal(hdr.readUInt32LE(4), hdr.readUInt32LE(8), 'saved clean');
  const log = join(d.dir, 'log1');
  await extractFromDisk(d, 'Windows/System32/config/SYSTEM.LOG1', log);
  t.equal((await readFile(log)).length, 0, 'LOG1 emptied');
  await extractFromDisk(d, 'Windows/System32/config/SYSTEM.LOG1.ce-backup', log);
  t.ok((await readFile(log)).length > 0, 'LOG1 backed up');

  const noLogs = await build(t, { scheme: 'mbr', dirtySystem: 'no-logs' });
  const before = await sha256(noLogs.path);
  await t.rejects(prepareWindows(noLogs.path, {}, { dryRun: false }), { code: 'HIVE_DIRTY' });
  t.equal(await sha256(noLogs.path), before, 'nothing written');
});

t.test('a hibernated volume is refused for prepare (also in dry run)', { skip }, async (t) => {
  const d = await build(t, { scheme: 'mbr', hibernated: true });
  const before = await sha256(d.path);
  await t.rejects(prepareWindows(d.path, {}, { dryRun: true }), { code: 'NTFS_HIBERNATED' });
  await t.rejects(prepareWindows(d.path, {}, { dryRun: false }), { code: 'NTFS_HIBERNATED' });
  t.equal(await sha256(d.path), before);
});

t.test('no loop device left behind', { skip }, async (t) => {
  for (const dir of dirs) t.same(await waitNoLoops(dir), [], dir);
});
