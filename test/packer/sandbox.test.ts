/**
 * The privilege model of ce.service with the real tools, without systemd: setpriv gives a
 * non-root user (nobody: ntfs-3g needs a passwd entry) exactly the unit's capabilities as
 * ambient capabilities, the unit's groups, and NoNewPrivileges; then ntfs-3g mounts a loop
 * device, writes, and umount unmounts. Without NoNewPrivileges the setuid-root ntfs-3g breaks
 * (its own privilege drop needs CAP_SETGID), which is why the unit sets it.
 *
 * The loop device is attached by root and given to group disk 0660, as udev does on the VM
 * (this sandbox has no udev: its loop nodes are root 0600); it is restored in teardown.
 */
import t from 'tap';
import { execa } from 'execa';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { needs } from '../helpers/env.js';
import { runTool } from '../../core/tools.js';
import { readUnit, words } from './units.js';

const NOBODY = 65534;

async function unitPrivileges(): Promise<{ caps: string[]; gids: number[] }> {
  const u = await readUnit(join(ROOT, 'packer/files/ce.service'));
  const caps = words(u, 'Service', 'AmbientCapabilities').map((c) => c.replace(/^CAP_/, '').toLowerCase());
  t.same(words(u, 'Service', 'CapabilityBoundingSet').sort(), words(u, 'Service', 'AmbientCapabilities').sort(), 'bounding set = ambient set');
  const gids: number[] = [];
  for (const g of words(u, 'Service', 'SupplementaryGroups')) {
    const r = await execa('getent', ['group', g], { reject: false });
    if (r.exitCode === 0) gids.push(Number(r.stdout.split(':')[2]));
  }
  return { caps, gids };
}

function setpriv(caps: string[], gids: number[], nnp: boolean): string[] {
  const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  return ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, gids.length ? `--groups=${gids.join(',')}` : '--clear-groups',
    `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, ...(nnp ? ['--no-new-privs'] : [])];
}

t.test('ntfs-3g on a loop device as the service user: works with NoNewPrivileges, breaks without', { skip: needs({ root: true, loop: true, fuse: true }) }, async (t) => {
  const { caps, gids } = await unitPrivileges();
  t.same(caps.sort(), ['net_bind_service', 'sys_admin']);
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const img = join(dir, 'ntfs.img');
  await runTool('truncate', ['-s', '16M', img]);
  await runTool('mkntfs', ['-F', '-Q', '-q', '-L', 'CE', img]);
  const loop = (await runTool('losetup', ['-f', '--show', img])).stdout.trim();
  const orig = await stat(loop);
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  await chmod(mnt, 0o777);
  t.teardown(async () => {
    await execa('umount', ['-l', mnt], { reject: false });
    await execa('losetup', ['-d', loop], { reject: false });
    await execa('chown', [`${orig.uid}:${orig.gid}`, loop], { reject: false });
    await chmod(loop, orig.mode & 0o7777).catch(() => undefined);
  });
  await runTool('chgrp', ['disk', loop]);
  await chmod(loop, 0o660);

  const script = `ntfs-3g ${loop} ${mnt} && echo from-ce > ${mnt}/written.txt && cat ${mnt}/written.txt && umount ${mnt}`;
  const ok = await execa(setpriv(caps, gids, true)[0]!, [...setpriv(caps, gids, true).slice(1), 'sh', '-c', script], { reject: false });
  t.equal(ok.exitCode, 0, ok.stderr || 'mount, write, umount as nobody with the unit\'s capabilities');
  t.equal(ok.stdout.trim(), 'from-ce');
  const mounted = await execa('findmnt', ['-rn', mnt], { reject: false });
  t.not(mounted.exitCode, 0, 'unmounted by the service user');
  t.equal((await runTool('ntfscat', [loop, 'written.txt'])).stdout.trim(), 'from-ce', 'the file is on the NTFS volume');

  const bad = await execa(setpriv(caps, gids, false)[0]!, [...setpriv(caps, gids, false).slice(1), 'sh', '-c', `ntfs-3g ${loop} ${mnt}`], { reject: false });
  t.not(bad.exitCode, 0, `without NoNewPrivileges the setuid ntfs-3g fails (${bad.stderr.split('\n').find((l) => l.trim()) ?? ''})`);
});

t.test('CAP_NET_BIND_SERVICE: the service user binds 443', { skip: needs({ root: true }) }, async (t) => {
  const { caps, gids } = await unitPrivileges();
  const ns = `ce-cap-${process.pid}`;
  await runTool('ip', ['netns', 'add', ns]);
  t.teardown(() => execa('ip', ['netns', 'del', ns], { reject: false }));
  const listen = `require('net').createServer().listen(443, '127.0.0.1', function () { console.log('bound'); this.close(); }).on('error', (e) => console.log(e.code))`;
  const run = async (c: string[]) => (await execa('ip', ['netns', 'exec', ns, ...setpriv(c, gids, true), process.execPath, '-e', listen])).stdout.trim();
  t.equal(await run(caps), 'bound', 'with the unit\'s capabilities');
  t.equal(await run(caps.filter((c) => c !== 'net_bind_service')), 'EACCES', 'and not without CAP_NET_BIND_SERVICE');
});
