/**
 * The provisioning path really run, twice:
 *  1. chroot-free, in a plain directory (CE_ROOT): every step but apt (recorded instead);
 *  2. in a real Debian 12 root made by debootstrap (minbase), chrooted, apt and all: the
 *     closest thing to the image without booting it. OPT-IN (CE_TEST_DEBOOTSTRAP=1): measured
 *     on an idle 2-core machine debootstrap took ~45 s and apt-get install of the CE packages
 *     ~30 s, but with the machine shared (load ~20) debootstrap took 191 s and install.sh in the
 *     chroot 120 s (5.4 min for the test), over the 3-minute budget of a domain suite. It also needs the Debian mirror (skipped when unreachable).
 * Both check the result: units installed, enabled and verified by systemd-analyze, the tools,
 * the `ce` user in the root's /etc/passwd, the boot firewall, no key material, first boot.
 */
import t, { type Test } from 'tap';
import { execa } from 'execa';
import { copyFile, cp, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { needs } from '../helpers/env.js';
import { runTool, TOOL_PACKAGES } from '../../core/tools.js';
import { buildPolicy } from '../../network/isolation/policy.js';
import { nftRuleset } from '../../network/isolation/nft.js';
import { makeCa } from './pki.js';
import { bootAndProbe, findKernel } from './boot.js';

const PROVISION = join(ROOT, 'packer/provision');
const FILES = join(ROOT, 'packer/files');
const UNITS = ['ce.service', 'ce-firstboot.service', 'ce-isolation.service'];
/** TOOL_PACKAGES entries used only to build or test the CE, never by the CE VM. */
const NOT_IN_IMAGE = new Set(['samba', 'packer', 'gcc-mingw-w64-x86-64']);

const skipRoot = needs({ root: true });

/**
 * The release tarball (npm run package into a temp dir) and a Node "official tarball" made
 * from this machine's node; built once for the file, removed at the end.
 */
let built: Promise<{ tarball: string; nodeDist: string; version: string }> | undefined;
function inputs(): Promise<{ tarball: string; nodeDist: string; version: string }> {
  built ??= buildInputs();
  return built;
}

async function buildInputs(): Promise<{ tarball: string; nodeDist: string; version: string }> {
  const dir = await mkdtemp(join(process.env.CE_TEST_TMP ?? tmpdir(), 'ce-pkg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await execa('bash', [join(ROOT, 'scripts/package.sh'), dir], { cwd: ROOT, reject: false });
  if (r.exitCode !== 0) throw new Error(`package.sh failed:\n${r.stderr}`);
  const tarball = r.stdout.trim().split('\n').pop()!;
  const version = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version as string;
  const nd = join(dir, 'node-dist', `node-${process.version}-linux-x64`, 'bin');
  await mkdir(nd, { recursive: true });
  await copyFile(process.execPath, join(nd, 'node'));
  const nodeDist = join(dir, 'node.tar');
  await runTool('tar', ['-C', join(dir, 'node-dist'), '-cf', nodeDist, `node-${process.version}-linux-x64`]);
  return { tarball, nodeDist, version };
}

function packagesIn(list: string): string[] {
  return list.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
}

async function checkTarball(t: Tap, tarball: string, version: string): Promise<void> {
  const names = (await runTool('tar', ['-tzf', tarball])).stdout.split('\n');
  t.ok(names.every((n) => n.startsWith(`ce-${version}/`)), 'one top directory ce-<version>/');
  const own = names.filter((n) => !n.includes('/node_modules/'));
  t.same(own.filter((n) => /\/(var|test)\/|\.test\.|\.partial$|\.(key|p12|pfx)$/.test(n)), [], 'no var/, tests or keys');
  t.same(own.filter((n) => n.includes('/dist/') && n.endsWith('.ts') && !n.endsWith('.d.ts')), [], 'compiled, no TypeScript sources in dist');
  for (const need of ['dist/ce-server/cli/main.js', 'bin/ce.cjs', 'package.json', 'packer/files/ce.service', 'packer/provision/install.sh', 'node_modules/fastify/package.json', 'dist/network/smb/native/ce-aead.node', 'dist/disk/native/ce-disk.node']) {
    t.ok(names.includes(`ce-${version}/${need}`), `has ${need}`);
  }
  t.notOk(names.some((n) => n.includes('/node_modules/tap/') || n.includes('/node_modules/typescript/')), 'no dev dependencies');
}

type Tap = Test;

/** Checks shared by both roots. */
async function checkRoot(t: Tap, root: string, version: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
  const ce = /^ce:x:(\d+):(\d+):[^:\n]*:([^:\n]*):([^:\n]*)$/m.exec(passwd);
  t.ok(ce, 'the ce user is in the root\'s /etc/passwd');
  const [uid, gid] = [Number(ce?.[1]), Number(ce?.[2])];
  t.ok(uid > 0 && uid < 1000, 'a system uid');
  t.equal(ce?.[3], '/var/lib/ce');
  t.equal(ce?.[4], '/usr/sbin/nologin', 'no login shell');
  t.match(await readFile(join(root, 'etc/shadow'), 'utf8'), /^ce:!/m, 'no usable password');
  const group = await readFile(join(root, 'etc/group'), 'utf8');
  t.match(group, /^kvm:/m, 'group kvm exists (SupplementaryGroups of ce.service)');
  t.notMatch(group, /^(sudo|disk|kvm|root):[^:]*:\d+:.*\bce\b/m, 'ce is in no privileged group in /etc/group');

  for (const u of UNITS) t.ok((await stat(join(root, 'etc/systemd/system', u))).isFile(), `${u} installed`);
  t.equal(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/ce.service')), '/etc/systemd/system/ce.service', 'ce.service enabled');
  t.ok(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/ce-firstboot.service')), 'ce-firstboot.service enabled');
  t.ok(await readlink(join(root, 'etc/systemd/system/sysinit.target.wants/ce-isolation.service')), 'ce-isolation.service enabled');
  t.equal((await stat(join(root, 'usr/lib/ce/ce-firstboot.sh'))).mode & 0o111, 0o111, 'first-boot script executable');

  t.equal(await readlink(join(root, 'opt/ce')), `ce-${version}`);
  const rel = await stat(join(root, `opt/ce-${version}/dist/ce-server/cli/main.js`));
  t.equal(rel.uid, 0, 'the release belongs to root');
  t.equal(rel.mode & 0o022, 0, 'and is not writable by anyone else');
  const state = await stat(join(root, 'var/lib/ce'));
  t.equal(state.uid, uid, '/var/lib/ce belongs to ce');

  const recorded = packagesIn(await readFile(join(root, 'usr/share/ce/packages.list'), 'utf8'));
  t.same(recorded, packagesIn(await readFile(join(PROVISION, 'packages.list'), 'utf8')), 'packages recorded');
  for (const [tool, pkg] of Object.entries(TOOL_PACKAGES)) {
    if (!NOT_IN_IMAGE.has(pkg)) t.ok(recorded.includes(pkg), `${tool} (${pkg}) is in the image`);
  }
  await t.rejects(lstat(join(root, 'var/lib/ce/tls')), 'no TLS identity in the image');
  return { uid, gid };
}

t.test('provisioning in a plain directory (CE_ROOT)', { skip: skipRoot }, async (t) => {
  const { tarball, nodeDist, version } = await inputs();
  await checkTarball(t, tarball, version);
  const dir = await tempDir(t);
  const root = join(dir, 'root');
  // A minimal base: the account files useradd --prefix edits, and the systemd unit tree of a
  // Debian system (copied from this machine) so systemd-analyze --root can resolve targets.
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  await writeFile(join(root, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  await copyFile('/etc/login.defs', join(root, 'etc/login.defs'));
  await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });

  const env = { PATH: process.env.PATH ?? '', CE_ROOT: root, CE_RELEASE_TARBALL: tarball, CE_NODE_DIST: nodeDist, CE_PLATFORM: 'qemu', CE_ISOLATION_ARGS: '--dns 10.0.0.2' };
  const r = await execa('bash', [join(PROVISION, 'install.sh')], { env, reject: false });
  t.equal(r.exitCode, 0, r.exitCode ? r.stderr : 'install.sh');
  t.match(r.stderr, /apt cannot install into a plain directory/, 'says what it skipped');
  const { uid } = await checkRoot(t, root, version);
  // The release's native AES-GCM loads from its dist/ (built on the build host, beside its loader).
  const backends = await execa(process.execPath, [join(root, `opt/ce-${version}/bin/ce.cjs`), 'smb', 'backends', '--json'], { reject: false });
  t.equal(backends.exitCode, 0, backends.stderr || 'the release runs');
  t.equal((JSON.parse(backends.stdout || '{}') as { builtin?: { aesGcm?: string } }).builtin?.aesGcm, 'native', 'the release uses the native AES-GCM');

  // The units, resolved inside the root (ExecStart of ce.service is the root's /usr/bin/node ->
  // ../../opt/node/bin/node). nft is not in this root (no apt): ce-isolation.service is checked
  // against the host by units.test.ts and inside the debootstrap root below.
  const v = await runTool('systemd-analyze', ['verify', `--root=${root}`, 'ce.service', 'ce-firstboot.service'], { allowFailure: true });
  t.equal(v.exitCode, 0, 'systemd-analyze verify --root');
  t.equal(v.stderr.trim(), '', v.stderr || 'no warnings');

  // The boot firewall is the policy (with the build's arguments) and loads.
  const nft = await readFile(join(root, 'etc/ce/isolation.nft'), 'utf8');
  t.equal(nft, nftRuleset(buildPolicy({ dnsServers: ['10.0.0.2'] })), 'isolation.nft = ce isolation rules --dns 10.0.0.2');
  t.equal((await runTool('nft', ['-c', '-f', join(root, 'etc/ce/isolation.nft')], { allowFailure: true })).exitCode, 0, 'nft -c accepts it');

  // First boot in this root, then the image check must refuse it: the verify step is real.
  const ca = await makeCa(dir, 'connector-ca');
  await copyFile(ca.cert, join(root, 'etc/ce/connector-ca.pem'));
  const fb = await execa('bash', [join(root, 'usr/lib/ce/ce-firstboot.sh')], { env: { ...env, CE_CONSOLE: join(dir, 'console') }, reject: false });
  t.equal(fb.exitCode, 0, fb.stderr);
  t.equal((await stat(join(root, 'var/lib/ce/tls/server.key'))).uid, uid, 'identity owned by ce');
  const verify = await execa('bash', [join(PROVISION, '90-verify.sh')], { env, reject: false });
  t.equal(verify.exitCode, 1, 'the image check refuses a root with key material');
  t.match(verify.stderr, /server\.key/);
});

const MIRROR = process.env.CE_TEST_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

t.test('provisioning in a debootstrapped Debian 12 root (chroot)', { skip: skipRoot || (await debootstrapSkip()), timeout: 2_400_000 }, async (t) => {
  const mirror = MIRROR;
  const { tarball, nodeDist, version } = await inputs();

  // Our own temp dir: /proc must be unmounted before anything is removed.
  const dir = await mkdtemp(join(process.env.CE_TEST_TMP ?? tmpdir(), 'ce-chroot-'));
  const root = join(dir, 'root');
  t.teardown(async () => {
    await execa('umount', ['-l', join(root, 'proc')], { reject: false });
    const mounted = await execa('findmnt', ['-rn', join(root, 'proc')], { reject: false });
    if (mounted.exitCode !== 0) await rm(dir, { recursive: true, force: true });
  });
  const t0 = Date.now();
  const dbs = await execa('debootstrap', ['--variant=minbase', 'bookworm', root, mirror], { reject: false });
  t.equal(dbs.exitCode, 0, dbs.exitCode ? dbs.stderr.slice(-2000) : `debootstrap ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (dbs.exitCode !== 0) return;
  await runTool('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);

  const work = join(root, 'tmp/ce-provision');
  await cp(PROVISION, join(work, 'provision'), { recursive: true });
  await cp(FILES, join(work, 'files'), { recursive: true });
  await copyFile(tarball, join(work, 'ce-release.tar.gz'));
  await copyFile(nodeDist, join(work, 'node.tar'));
  const chrootEnv = ['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'CE_RELEASE_TARBALL=/tmp/ce-provision/ce-release.tar.gz', 'CE_NODE_DIST=/tmp/ce-provision/node.tar', 'CE_PLATFORM=qemu'];
  const t1 = Date.now();
  const r = await execa('chroot', [root, ...chrootEnv, 'bash', '/tmp/ce-provision/provision/install.sh'], { reject: false });
  t.equal(r.exitCode, 0, r.exitCode ? r.stderr.slice(-3000) : `install.sh in the chroot ${((Date.now() - t1) / 1000).toFixed(0)} s`);
  if (r.exitCode !== 0) return;
  t.match(r.stderr, /no key material; ce runs/, 'the verify step ran the tools check and ce');
  await checkRoot(t, root, version);

  // The real root has systemd, nft and the tools: verify all three units inside it.
  const v = await runTool('systemd-analyze', ['verify', `--root=${root}`, ...UNITS], { allowFailure: true });
  t.equal(v.exitCode, 0, 'systemd-analyze verify --root (all units)');
  t.equal(v.stderr.trim(), '', v.stderr || 'no warnings');
  for (const tool of ['qemu-img', 'ntfs-3g', 'losetup', 'hivexsh', 'smbclient', 'nft', 'qemu-system-x86_64', 'openssl']) {
    const w = await execa('chroot', [root, 'sh', '-c', `command -v ${tool}`], { reject: false });
    t.equal(w.exitCode, 0, `${tool} installed in the image`);
  }

  const ca = await makeCa(dir, 'connector-ca');
  if (process.env.CE_TEST_BOOT === '1') await bootStage(t, root, dir, await readFile(ca.cert, 'utf8'));

  // First boot with the root's own openssl, then generalisation must leave no identity behind.
  await copyFile(ca.cert, join(root, 'etc/ce/connector-ca.pem'));
  const fb = await execa('chroot', [root, 'env', 'CE_CONSOLE=/tmp/console.log', '/usr/lib/ce/ce-firstboot.sh'], { reject: false });
  t.equal(fb.exitCode, 0, fb.stderr);
  t.match(await readFile(join(root, 'tmp/console.log'), 'utf8'), /^CE-TLS-FINGERPRINT sha256=[0-9A-F:]{95}$/m);
  const clean = await execa('chroot', [root, ...chrootEnv, 'bash', '/tmp/ce-provision/provision/cleanup.sh'], { reject: false });
  t.equal(clean.exitCode, 0, clean.exitCode ? clean.stderr : 'cleanup.sh');
  await t.rejects(stat(join(root, 'var/lib/ce/tls/server.key')), 'the generalised image has no key');
  t.equal((await stat(join(root, 'etc/machine-id'))).size, 0, 'machine-id emptied');
});

/**
 * CE_TEST_BOOT=1 (with CE_TEST_DEBOOTSTRAP=1): boot the provisioned root under QEMU/KVM with a
 * real systemd (see boot.ts) and check the units' behaviour from the serial console and the
 * network.
 */
async function bootStage(t: Tap, root: string, dir: string, caPem: string): Promise<void> {
  const kernel = await findKernel();
  if (!kernel) {
    t.comment('boot stage skipped: needs a Debian kernel in /boot with its modules (linux-image-amd64)');
    return;
  }
  await runTool('umount', [join(root, 'proc')]); // mkfs.ext4 -d must not copy /proc
  const t0 = Date.now();
  let res;
  try {
    res = await bootAndProbe(root, dir, kernel, caPem, 900_000);
  } finally {
    await runTool('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
  }
  t.comment(`booted and probed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const serial = res.serial;
  t.match(serial, /CE-TLS-FINGERPRINT sha256=[0-9A-F:]{95}/, 'first boot printed the fingerprint on ttyS0');
  t.match(serial, /CE-PROBE uid=[1-9]\d* CapEff:0+200400\b/, 'ce.service runs as ce with exactly CAP_SYS_ADMIN + CAP_NET_BIND_SERVICE');
  t.match(serial, /ce \d+\.\d+\.\d+ \(node v20\./, 'node and the CE run inside the sandbox');
  t.match(serial, /CE-PROBE-MOUNT-OK/, 'losetup + ntfs-3g + umount work inside the sandbox');
  t.match(serial, /CE-PROBE-ETC-READONLY/, 'ProtectSystem=strict: /etc is read-only for the service');
  t.equal(res.https, 'hello', '443 reaches the service through the boot firewall');
  t.equal(res.other, 'no-data', '8080 is dropped by the boot firewall');
  if (!/CE-PROBE-LISTENING/.test(serial)) t.comment(serial.slice(-6000));
}

async function debootstrapSkip(): Promise<false | string> {
  if (process.env.CE_TEST_DEBOOTSTRAP !== '1') return 'opt-in: set CE_TEST_DEBOOTSTRAP=1 (needs the Debian mirror, 1.5-5 min)';
  const reach = await execa('curl', ['-fsS', '-o', '/dev/null', '--max-time', '8', `${MIRROR}/dists/bookworm/Release`], { reject: false });
  return reach.exitCode === 0 ? false : `needs the Debian mirror ${MIRROR} (unreachable)`;
}
