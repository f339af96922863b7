import t from 'tap';
import { copyFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { HIVES, buildSoftwareHive, cleanHive } from '../helpers/windows-disk.js';
import { Hive } from '../../disk/hive/hive.js';
import { REG } from '../../disk/hive/types.js';
import { validateComponentOptions } from '../../vda/options.js';
import { planVdaRegistry, VDA_POLICY_KEY } from '../../vda/registry/vda-settings.js';
import { detectComponents, uninstallEntries } from '../../vda/registry/detect.js';
import { planServiceEntry, planServiceRemoval } from '../../vda/firstboot/service.js';

async function hives(t: Parameters<typeof tempDir>[0], citrix: Parameters<typeof buildSoftwareHive>[1]['citrix']) {
  const dir = await tempDir(t);
  const sys = join(dir, 'SYSTEM');
  await copyFile(join(HIVES, 'SYSTEM_2'), sys);
  await chmod(sys, 0o644);
  await cleanHive(sys);
  const sw = join(dir, 'SOFTWARE');
  await buildSoftwareHive(sw, { citrix });
  return { system: await Hive.open(sys), software: await Hive.open(sw) };
}

t.test('ListOfDDCs: local value, and the policy value where one exists (it takes precedence)', async (t) => {
  const { system, software } = await hives(t, { vda: '2203.0.4000' });
  const opts = validateComponentOptions({ xdReconfigure: [{ parameterName: 'controllers', parameterValue: 'cc1.corp.example.com cc2.corp.example.com' }] });
  let p = planVdaRegistry(software, system, opts);
  t.same(p.ops.map((c) => [c.where, c.after]), [['HKLM\\SOFTWARE\\Citrix\\VirtualDesktopAgent\\ListOfDDCs', { type: REG.SZ, data: 'cc1.corp.example.com cc2.corp.example.com' }]]);
  software.ensureKey(VDA_POLICY_KEY).setValue('ListOfDDCs', REG.SZ, 'old-policy.corp.example.com');
  p = planVdaRegistry(software, system, opts);
  t.same(p.ops.map((c) => c.where), ['HKLM\\SOFTWARE\\Citrix\\VirtualDesktopAgent\\ListOfDDCs', 'HKLM\\SOFTWARE\\Policies\\Citrix\\VirtualDesktopAgent\\ListOfDDCs']);
  t.match(p.notes.join(' '), /overrides/);
  // Already in the requested state: no-op.
  software.ensureKey('Citrix\\VirtualDesktopAgent').setValue('ListOfDDCs', REG.SZ, 'cc1.corp.example.com cc2.corp.example.com');
  software.ensureKey(VDA_POLICY_KEY).setValue('ListOfDDCs', REG.SZ, 'cc1.corp.example.com cc2.corp.example.com');
  t.same(planVdaRegistry(software, system, opts).ops, [], 'nothing to change');
  const guid = planVdaRegistry(software, system, validateComponentOptions({ xdReconfigure: [{ parameterName: 'site_guid', parameterValue: '{a1b2c3d4-0000-1111-2222-333344445555}' }] }));
  t.same(guid.ops, [], 'site_guid is online only');
  t.match(guid.notes.join(' '), /unverified/);
});

t.test('detection: Uninstall DisplayName, services, and the disabled state', async (t) => {
  const { system, software } = await hives(t, { vda: '2203.0.4000', misa: true });
  t.ok(uninstallEntries(software).some((e) => e.displayName === 'Machine Identity Service Agent'));
  const cs = 'ControlSet001\\Services\\CVhdFilter';
  system.ensureKey(cs).setValue('Start', REG.DWORD, 4);
  const d = await detectComponents(software, system);
  t.equal(d.vda.installed, true);
  t.equal(d.misa.installed, true);
  t.equal(d.misa.version, '7.33.0.17');
  t.equal(d.mcsio.installed, true);
  t.equal(d.mcsio.active, false, 'Start=4 is installed but disabled');
  t.equal(d.pvs.installed, false);
});

t.test('service entry in the current control set, removal plan', async (t) => {
  const { system } = await hives(t, {});
  const ops = planServiceEntry(system);
  t.same(
    ops.map((c) => [c.value, c.after]),
    [
      ['Type', { type: REG.DWORD, data: 0x10 }],
      ['Start', { type: REG.DWORD, data: 2 }],
      ['ErrorControl', { type: REG.DWORD, data: 1 }],
      ['ImagePath', { type: REG.EXPAND_SZ, data: '"C:\\Program Files\\CitrixCE\\Firstboot\\cefirstboot.exe"' }],
      ['DisplayName', { type: REG.SZ, data: 'Citrix CE first-boot runner' }],
      ['Description', { type: REG.SZ, data: 'Runs the Citrix Compositing Engine first-boot scripts once, then removes itself.' }],
      ['ObjectName', { type: REG.SZ, data: 'LocalSystem' }],
      ['PWD', { type: REG.SZ, data: 'C:\\Program Files\\CitrixCE\\Firstboot' }],
    ],
  );
  t.ok(ops.every((c) => c.key.startsWith('ControlSet001\\Services\\CitrixCEFirstboot')));
  t.same(planServiceRemoval(system), [], 'nothing to remove yet');
  for (const c of ops) system.ensureKey(c.key).setValue(c.value!, c.type!, c.data!);
  t.same(planServiceRemoval(system).map((c) => [c.action, c.key]), [['delete-key', 'ControlSet001\\Services\\CitrixCEFirstboot']]);
});
