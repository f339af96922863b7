/**
 * The systemd units of the CE image: `systemd-analyze verify` (systemd 252 works in this
 * container without systemd as PID 1; it checks syntax, dependencies and that ExecStart
 * binaries exist, so the first-boot unit is verified inside the provisioned root by
 * provision.test.ts), plus the hardening the design relies on.
 */
import t from 'tap';
import { join } from 'node:path';
import { runTool } from '../../core/tools.js';
import { ROOT } from '../helpers/cli.js';
import { readUnit, words } from './units.js';
import { tempDir } from '../helpers/tmp.js';
import { writeFile } from 'node:fs/promises';

const FILES = join(ROOT, 'packer/files');

t.test('systemd-analyze verify: ce.service and ce-isolation.service', async (t) => {
  // Exec paths exist on this machine (/usr/bin/node, /usr/sbin/nft). verify prints warnings
  // (unknown keys, bad values) without failing, so any output is a failure here.
  const r = await runTool('systemd-analyze', ['verify', join(FILES, 'ce.service'), join(FILES, 'ce-isolation.service')], { allowFailure: true });
  t.equal(r.exitCode, 0);
  t.equal(r.stderr.trim(), '', 'no warnings');
});

t.test('systemd-analyze verify catches a bad unit (the check is real)', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'bad.service'), '[Service]\nType=bogus\nExecStart=/usr/bin/node -v\nProtectSystem=stricter\n');
  const r = await runTool('systemd-analyze', ['verify', join(dir, 'bad.service')], { allowFailure: true });
  t.match(r.stderr, /Failed to parse service type/);
});

t.test('ce.service: command, restart, hardening, capabilities, devices', async (t) => {
  const u = await readUnit(join(FILES, 'ce.service'));
  const s = u.Service!;
  t.same(s.ExecStart, ['/usr/bin/node /opt/ce/bin/ce.cjs serve --host 0.0.0.0 --port 443 --data-dir /var/lib/ce']);
  t.same(s.User, ['ce']);
  t.same(s.Restart, ['on-failure']);
  t.same(s.NoNewPrivileges, ['yes'], 'NoNewPrivileges (required to keep ambient caps across setuid ntfs-3g/umount)');
  t.same(s.ProtectSystem, ['strict']);
  t.same(s.StateDirectory, ['ce'], 'the one writable place: /var/lib/ce');
  t.same(s.PrivateTmp, ['yes']);
  t.same(words(u, 'Service', 'CapabilityBoundingSet').sort(), ['CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN']);
  t.same(words(u, 'Service', 'AmbientCapabilities').sort(), ['CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN']);
  t.same(s.DevicePolicy, ['closed']);
  const devices = (s.DeviceAllow ?? []).map((d) => d.split(/\s+/)[0]);
  for (const d of ['/dev/loop-control', 'block-loop', '/dev/fuse', '/dev/kvm']) t.ok(devices.includes(d), `DeviceAllow ${d}`);
  t.notOk(s.PrivateDevices, 'PrivateDevices would hide loop devices and disks');
  t.same(s.EnvironmentFile, ['/etc/ce/ce.env', '/etc/ce/connector.env'], 'connector.env is required: no first boot, no service');
  t.same(s.StandardOutput, ['journal']);
  t.same(u.Unit!.Requires, ['ce-firstboot.service']);
  t.same(u.Install!.WantedBy, ['multi-user.target']);
});

t.test('ce-firstboot.service and ce-isolation.service', async (t) => {
  const fb = await readUnit(join(FILES, 'ce-firstboot.service'));
  t.same(fb.Service!.Type, ['oneshot']);
  t.same(fb.Unit!.ConditionPathExists, ['!/var/lib/ce/.firstboot-done'], 'runs once');
  t.match(fb.Service!.StandardOutput![0]!, /console/, 'fingerprint reaches the console');
  t.match(fb.Unit!.Before![0]!, /ce\.service/);
  const iso = await readUnit(join(FILES, 'ce-isolation.service'));
  t.same(iso.Service!.ExecStart, ['/usr/sbin/nft -f /etc/ce/isolation.nft']);
  t.match(iso.Unit!.Before![0]!, /network-pre\.target/, 'loaded before the network is up');
  t.notOk(iso.Service!.ExecStop, 'stopping keeps the rules (fail closed)');
});
