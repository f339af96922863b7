import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile, readdir, rename, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../helpers/tmp.js';
import { needs } from '../helpers/env.js';
import { buildWindowsDisk } from '../helpers/windows-disk.js';
import { withWindowsImage } from '../../disk/windows/image.js';
import { REG } from '../../disk/hive/types.js';
import { prepareImage, finishFirstBoot, type FullPrepareOptions } from '../../vda/prepare.js';
import { FIRSTBOOT_DIR, COMPONENTS_DIR } from '../../vda/firstboot/layout.js';
import { ensureHostBuilt } from '../helpers/vda-host.js';
import { QemuBootDriver } from '../../vda/boot/qemu.js';
import type { BootRequest } from '../../vda/boot/types.js';
import { pino } from 'pino';

const skip = needs({ root: true, loop: true, fuse: true });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const fileSha = async (p: string) => sha(await readFile(p));

async function hivexget(hive: string, key: string, value?: string): Promise<{ ok: boolean; out: string }> {
  const r = await execa('hivexget', value === undefined ? [hive, key] : [hive, key, value], { reject: false });
  return { ok: r.exitCode === 0, out: String(r.stdout).trim() };
}

/** Read hive values through the mounted image (read-only), with hivexget as the oracle. */
async function onImage<T>(disk: string, fn: (h: { software: string; system: string; root: string }) => Promise<T>): Promise<T> {
  return withWindowsImage(disk, { readOnly: true }, async (img) => fn({ software: (await img.hivePath('SOFTWARE'))!, system: (await img.hivePath('SYSTEM'))!, root: img.root }));
}

async function componentSource(dir: string, files: Record<string, Buffer>, manifestOverride?: Record<string, string>): Promise<string> {
  const src = join(dir, 'components');
  await mkdir(src, { recursive: true });
  const manifest: Record<string, string> = {};
  for (const [n, b] of Object.entries(files)) {
    await writeFile(join(src, n), b);
    manifest[n] = sha(b);
  }
  await writeFile(join(src, 'manifest.json'), JSON.stringify({ files: { ...manifest, ...manifestOverride } }));
  return src;
}

t.test('prepare with VDA components on a synthetic Windows disk', { skip }, async (t) => {
  await ensureHostBuilt();
  const dir = await tempDir(t, 'ce-vda-prep-');
  const disk = await buildWindowsDisk(t, { scheme: 'mbr', citrix: { vda: '2203.0.4000' } });
  const misa = randomBytes(300_000);
  const src = await componentSource(dir, { 'MachineIdentityServiceAgent_x64.msi': misa });
  const opts: FullPrepareOptions = {
    prepare: { pagefile: false, disableFastStartup: false },
    vda: {
      components: {
        provisioningType: 'Mcs',
        installMisa: true,
        xdReconfigure: [
          { parameterName: 'controllers', parameterValue: 'cc1.corp.example.com;cc2.corp.example.com' },
          { parameterName: 'portnumber', parameterValue: '443' },
        ],
      },
      componentSource: { kind: 'local', path: src },
      firstBoot: { mode: 'stage' },
    },
  };

  t.test('a missing installer is COMPONENT_SOURCE_MISSING naming the file, nothing written', async (t) => {
    const before = await fileSha(disk.path);
    const e = await prepareImage(disk.path, { ...opts, vda: { ...opts.vda, components: { provisioningType: 'Mcs', installMcsio: true } } }, { dryRun: false }).catch((x) => x);
    t.equal(e.code, 'COMPONENT_SOURCE_MISSING');
    t.match(e.message, /MCSIO_x64\.msi/);
    t.equal(await fileSha(disk.path), before, 'the image is unchanged');
  });

  t.test('dry run reports the whole plan incl. the first-boot scripts and writes nothing', async (t) => {
    const before = await fileSha(disk.path);
    const r = await prepareImage(disk.path, opts, { dryRun: true });
    t.equal(await fileSha(disk.path), before, 'byte-identical after the dry run');
    const wheres = r.changes.map((c) => String(c.where));
    t.ok(wheres.includes('HKLM\\SOFTWARE\\Citrix\\VirtualDesktopAgent\\ListOfDDCs'));
    t.ok(wheres.includes('HKLM\\SOFTWARE\\Citrix\\CitrixCE\\ProvisioningType'));
    t.ok(wheres.some((w) => /ControlSet001\\Services\\CitrixCEFirstboot\\ImagePath$/.test(w)));
    const ddc = r.changes.find((c) => String(c.where).endsWith('ListOfDDCs'))!;
    t.same(ddc.before, { type: REG.SZ, data: 'ddc1.contoso.local ddc2.contoso.local' });
    t.same(ddc.after, { type: REG.SZ, data: 'cc1.corp.example.com cc2.corp.example.com' });
    t.same(r.vda.firstBoot.scripts.map((s) => s.file.split('/').pop()), ['3500-0001-misa-install.bat', '4000-0002-vda-reconfigure.bat', '9999-0003-shutdown.bat']);
    t.match(r.vda.firstBoot.scripts[1]!.content!, /'\/controllers', 'cc1\.corp\.example\.com cc2\.corp\.example\.com', '\/portnumber', '443'/);
    t.same(r.vda.installers, [{ component: 'misa', file: 'MachineIdentityServiceAgent_x64.msi', size: misa.length }]);
    t.ok(r.vda.detected?.vda.installed);
    t.notOk(r.vda.detected?.misa.installed);
    t.ok(r.notes.some((n) => /Precedence/.test(n)), 'policy precedence explained');
    t.ok(r.notes.some((n) => /portnumber 443 .*unverified/.test(n)));
  });

  t.test('apply + stage: registry checked with hivexget, installers and scripts on the volume', async (t) => {
    const r = await prepareImage(disk.path, opts, { dryRun: false });
    t.equal(r.vda.firstBoot.state, 'staged');
    t.equal(r.vda.staged?.[0]?.sha256, sha(misa));
    await onImage(disk.path, async ({ software, system, root }) => {
      t.equal((await hivexget(software, '\\Citrix\\VirtualDesktopAgent', 'ListOfDDCs')).out, 'cc1.corp.example.com cc2.corp.example.com');
      t.equal((await hivexget(software, '\\Citrix\\CitrixCE', 'ProvisioningType')).out, 'Mcs');
      const svc = '\\ControlSet001\\Services\\CitrixCEFirstboot';
      t.equal((await hivexget(system, svc, 'Type')).out, '16');
      t.equal((await hivexget(system, svc, 'Start')).out, '2');
      t.equal((await hivexget(system, svc, 'ErrorControl')).out, '1');
      t.equal((await hivexget(system, svc, 'ObjectName')).out, 'LocalSystem');
      t.equal((await hivexget(system, svc, 'ImagePath')).out, '"C:\\Program Files\\CitrixCE\\Firstboot\\cefirstboot.exe"');
      t.equal((await hivexget(system, `${svc}\\Parameters`, 'PWD')).out, 'C:\\Program Files\\CitrixCE\\Firstboot');
      t.equal(await fileSha(join(root, COMPONENTS_DIR, 'MachineIdentityServiceAgent_x64.msi')), sha(misa), 'installer staged with its hash');
      const fb = join(root, FIRSTBOOT_DIR);
      t.same((await readdir(join(fb, 'scripts'))).sort(), ['3500-0001-misa-install.bat', '4000-0002-vda-reconfigure.bat', '9999-0003-shutdown.bat']);
      const bat = await readFile(join(fb, 'scripts', '4000-0002-vda-reconfigure.bat'), 'latin1');
      t.notMatch(bat, /[^\r]\n/, 'CRLF');
      const ps1 = await readFile(join(fb, 'Temp', '4000-0002-vda-reconfigure.ps1'), 'latin1');
      t.match(ps1, /XenDesktopVdaSetup\.exe/);
      t.notMatch(ps1, /[^\r]\n/, 'CRLF');
      const exe = await readFile(join(fb, 'cefirstboot.exe'));
      t.equal(exe.toString('latin1', 0, 2), 'MZ');
    });
    t.ok(r.report?.hives.some((h) => h.hive === 'SOFTWARE'));
  });

  t.test('after the boot: results read offline, runner and service entry removed', async (t) => {
    // Play Windows' part: the host ran every script (exit 250 each), wrote results and `complete`.
    await withWindowsImage(disk.path, {}, async (img) => {
      const fb = join(img.root, FIRSTBOOT_DIR);
      for (const f of await readdir(join(fb, 'scripts'))) {
        const b = f.replace(/\.bat$/, '');
        await writeFile(join(fb, 'results', `${b}.exit`), '250 1');
        await writeFile(join(fb, 'results', `${b}.json`), '\uFEFF' + JSON.stringify({ script: b, status: b.includes('misa') ? 'ok' : 'unchanged', message: 'done', exitCode: 250 }));
        await rename(join(fb, 'scripts', f), join(fb, 'scripts-done', f));
      }
      await writeFile(join(fb, 'complete'), 'complete\r\n');
    });
    const fin = await finishFirstBoot(disk.path);
    t.equal(fin.results.complete, true);
    t.equal(fin.results.succeeded, true);
    t.same(fin.results.scripts.map((s) => [s.script, s.status]), [
      ['3500-0001-misa-install', 'ok'],
      ['4000-0002-vda-reconfigure', 'unchanged'],
      ['9999-0003-shutdown', 'unchanged'],
    ]);
    t.same(fin.removed, [FIRSTBOOT_DIR, COMPONENTS_DIR, 'Program Files/CitrixCE']);
    await onImage(disk.path, async ({ system, software, root }) => {
      t.equal((await hivexget(system, '\\ControlSet001\\Services\\CitrixCEFirstboot', 'Type')).ok, false, 'service entry gone');
      t.equal((await hivexget(software, '\\Citrix\\VirtualDesktopAgent', 'ListOfDDCs')).out, 'cc1.corp.example.com cc2.corp.example.com', 'VDA settings stay');
      t.notOk((await readdir(root)).includes('Program Files') && (await readdir(join(root, 'Program Files'))).includes('CitrixCE'));
    });
    const again = await finishFirstBoot(disk.path);
    t.same(again.removed, [], 'idempotent');
  });

  t.test('full prepare with a real isolated boot that times out: killed, runner removed, typed error', { skip: needs({ kvm: true }) }, async (t) => {
    // QEMU/KVM really boots the prepared disk (no Windows here, so it never finishes); the job's
    // timeout is clamped to 15 s for the test. The prepare must clean up offline and fail typed.
    class ShortTimeout extends QemuBootDriver {
      override boot(r: BootRequest) {
        return super.boot({ ...r, timeoutSeconds: 15, memoryMiB: 256 });
      }
    }
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const e = await prepareImage(disk.path, { ...opts, vda: { ...opts.vda, firstBoot: { mode: 'boot', timeoutSeconds: 600 } } }, { dryRun: false, bootDriver: new ShortTimeout(), log }).catch((x) => x);
    t.equal(e.code, 'VDA_FIRSTBOOT_INCOMPLETE', String(e.message));
    t.equal(e.details?.boot?.timedOut, true);
    t.equal(e.details?.boot?.network, 'none');
    t.equal(e.details?.boot?.firmware, 'bios', 'MBR disk: BIOS');
    t.ok(e.details?.boot?.command.includes(`file=${disk.path},format=raw,if=none,id=disk0,cache=writeback`), 'the prepared disk itself was booted');
    t.equal(e.details?.results?.complete, false);
    t.same(e.details?.results?.scripts.map((s: { status: string }) => s.status), ['pending', 'pending', 'pending']);
    await onImage(disk.path, async ({ system, software, root }) => {
      t.equal((await hivexget(system, '\\ControlSet001\\Services\\CitrixCEFirstboot', 'Type')).ok, false, 'service entry removed');
      t.notOk((await readdir(join(root, 'Program Files')).catch(() => [] as string[])).includes('CitrixCE'), 'runner and installers removed');
      t.equal((await hivexget(software, '\\Citrix\\CitrixCE', 'ProvisioningType')).out, 'Mcs', 'the offline edits stay');
    });
  });
});

t.test('PVS: CVhdFilter disabled and removed from class filters; MISA already installed is a no-op', { skip }, async (t) => {
  const disk = await buildWindowsDisk(t, { scheme: 'gpt', joined: true, citrix: { vda: '2203.0.4000', mcsio: true, misa: true } });
  const DISK_CLASS = 'ControlSet001\\Control\\Class\\{4d36e967-e325-11ce-bfc1-08002be10318}';
  const VOL_CLASS = 'ControlSet001\\Control\\Class\\{71a27cdd-812a-11d0-bec7-08002be2092f}';
  await withWindowsImage(disk.path, {}, async (img) => {
    const sys = await img.hive('SYSTEM');
    sys.ensureKey(DISK_CLASS).setValue('UpperFilters', REG.MULTI_SZ, ['partmgr', 'CVhdFilter']);
    sys.ensureKey(VOL_CLASS).setValue('LowerFilters', REG.MULTI_SZ, ['CVhdFilter']);
    await sys.save({ noBackup: true });
  });
  const r1 = await prepareImage(disk.path, { prepare: { pagefile: false, disableFastStartup: false }, vda: { components: { provisioningType: 'Pvs' } } }, { dryRun: false });
  t.equal(r1.vda.firstBoot.state, 'none', 'nothing to run online');
  await onImage(disk.path, async ({ system, software }) => {
    t.equal((await hivexget(system, '\\ControlSet001\\Services\\CVhdFilter', 'Start')).out, '4');
    const upper = await hivexget(system, `\\${DISK_CLASS}`, 'UpperFilters');
    t.same(upper.out.split(/\r?\n/), ['partmgr'], 'CVhdFilter removed, the other filters kept');
    t.equal((await hivexget(system, `\\${VOL_CLASS}`, 'LowerFilters')).ok, false, 'an emptied filter list is deleted');
    t.equal((await hivexget(software, '\\Citrix\\CitrixCE', 'ProvisioningType')).out, 'Pvs');
  });
  const r2 = await prepareImage(disk.path, { prepare: { pagefile: false, disableFastStartup: false }, vda: { components: { provisioningType: 'Pvs' } } }, { dryRun: true });
  t.same(r2.changes, [], 'already in the requested state: no changes');
  const r3 = await prepareImage(disk.path, { prepare: { pagefile: false, disableFastStartup: false }, vda: { components: { provisioningType: 'Mcs', installMisa: true } } }, { dryRun: true });
  t.same(r3.vda.firstBoot.scripts, [], 'MISA already installed: no script');
  t.ok(r3.notes.some((n) => /already installed/.test(n)));
  // network/domain's online unjoin (a stage-script change of the shared plan) runs in the same runner.
  const r4 = await prepareImage(disk.path, { prepare: { pagefile: false, disableFastStartup: false, domainUnjoin: 'firstBoot' }, vda: { components: { uninstallMisa: true } } }, { dryRun: true });
  t.same(r4.vda.firstBoot.scripts.map((s) => s.file.split('/').pop()), ['3000-0001-unjoin-domain.bat', '3500-0002-misa-uninstall.bat', '9999-0003-shutdown.bat']);
  t.match(r4.vda.firstBoot.scripts[0]!.content!, /Remove-Computer -WorkgroupName 'WORKGROUP' -Force\r\n/);
  t.ok(r4.changes.some((c) => /CitrixCEFirstboot\\Start$/.test(String(c.where))), 'service entry planned');
  t.equal(r4.vda.firstBoot.state, 'planned');
});
