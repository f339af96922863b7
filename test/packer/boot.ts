/**
 * Boot a provisioned Debian root as a VM (QEMU, this machine's Debian kernel and initrd,
 * the root copied into an ext4 image with mkfs.ext4 -d), so the units run under a real
 * systemd: ce-isolation loads the firewall, ce-firstboot prints the fingerprint on ttyS0, and
 * ce.service's real sandbox runs a probe in place of `ce serve` (the service itself is not
 * built yet): node, losetup + ntfs-3g + umount as `ce`, a read-only /etc, listeners on 443 and
 * 8080 that the host reaches through QEMU port forwards (only 443 must answer).
 */
import { execa, type ResultPromise } from 'execa';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runTool } from '../../core/tools.js';

export interface Kernel {
  version: string;
  vmlinuz: string;
  initrd: string;
}

/** The Debian kernel installed on this machine (linux-image-amd64), if any. */
export async function findKernel(): Promise<Kernel | undefined> {
  const files = await readdir('/boot').catch(() => [] as string[]);
  for (const f of files.filter((x) => x.startsWith('vmlinuz-')).sort().reverse()) {
    const version = f.slice('vmlinuz-'.length);
    const initrd = `/boot/initrd.img-${version}`;
    if (existsSync(initrd) && existsSync(`/lib/modules/${version}`)) return { version, vmlinuz: `/boot/${f}`, initrd };
  }
  return undefined;
}

const PROBE = `#!/bin/bash
# Test-only: runs in place of \`ce serve\`, inside ce.service's sandbox, as ce.
exec 2>&1
echo "CE-PROBE uid=$(id -u) $(grep CapEff /proc/self/status | tr -d '\\t')"
/usr/bin/node /opt/ce/bin/ce.cjs version
img=/var/lib/ce/probe.img mnt=/var/lib/ce/mnt
truncate -s 16M "$img" && mkntfs -F -Q -q "$img" >/dev/null 2>&1
L=$(losetup -f --show "$img") && mkdir -p "$mnt" && ntfs-3g "$L" "$mnt" && echo probe >"$mnt/x" && umount "$mnt" && losetup -d "$L" && echo CE-PROBE-MOUNT-OK
if touch /etc/ce/probe 2>/dev/null; then echo CE-PROBE-ETC-WRITABLE; else echo CE-PROBE-ETC-READONLY; fi
exec /usr/bin/node -e '
const net = require("net");
let n = 0;
for (const p of [443, 8080]) net.createServer((s) => { s.on("error", () => {}); s.end("hello\\n"); }).listen(p, "0.0.0.0", () => { if (++n === 2) console.log("CE-PROBE-LISTENING"); });
'
`;

/** Test-only files that turn a provisioned root into a bootable test VM (kept out of the provisioned tree). */
async function addTestFiles(root: string, kernel: Kernel, caPem: string): Promise<string[]> {
  const added: string[] = [];
  const put = async (rel: string, content: string, mode = 0o644) => {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), content);
    await chmod(join(root, rel), mode);
    added.push(rel);
  };
  await put('etc/ce/connector-ca.pem', caPem);
  await put('usr/lib/ce/test-probe.sh', PROBE, 0o755);
  await put('etc/systemd/system/ce.service.d/test-probe.conf', '[Service]\nExecStart=\nExecStart=/bin/bash /usr/lib/ce/test-probe.sh\nRestart=no\n');
  // Cloud images configure DHCP; a minbase root does not: systemd-networkd does it here.
  await put('etc/systemd/network/80-ce-test.network', '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n');
  await mkdir(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  await runTool('ln', ['-sfn', '/lib/systemd/system/systemd-networkd.service', join(root, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service')]);
  added.push('etc/systemd/system/multi-user.target.wants/systemd-networkd.service');
  await put('etc/fstab', '/dev/vda / ext4 rw,relatime 0 1\n');
  await put('etc/hostname', 'ce-test\n');
  // The kernel's modules (loop, fuse, nf_tables, virtio_net…), without the big driver trees.
  await runTool('sh', ['-c', `tar -C / --exclude='*/kernel/drivers/gpu' --exclude='*/kernel/drivers/media' --exclude='*/kernel/drivers/net/wireless' --exclude='*/kernel/drivers/infiniband' --exclude='*/kernel/sound' --exclude='*/kernel/drivers/net/ethernet' --exclude='*/kernel/drivers/staging' -cf - lib/modules/${kernel.version} | tar -C "$0" -xf -`, root]);
  added.push(`lib/modules/${kernel.version}`);
  return added;
}

export interface BootResult {
  serial: string;
  https: string;
  other: string;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** What a TCP client on the host receives through the port forward: the greeting, or nothing. */
async function greet(port: number, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (v: string) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(ms, () => done(data.trim() || 'no-data'));
    s.on('data', (d) => {
      data += d.toString();
      if (data.includes('\n')) done(data.trim());
    });
    s.on('error', () => done('error'));
    s.on('close', () => done(data.trim() || 'no-data'));
  });
}

/**
 * Build the disk from `root` (the test files are added and removed again), boot it, wait for
 * the probe to listen (or `timeoutMs`), check the two ports, then stop the VM.
 */
export async function bootAndProbe(root: string, work: string, kernel: Kernel, caPem: string, timeoutMs: number): Promise<BootResult> {
  const added = await addTestFiles(root, kernel, caPem);
  const disk = join(work, 'ce-root.img');
  try {
    await runTool('mkfs.ext4', ['-q', '-F', '-L', 'ceroot', '-d', root, disk, '3G']);
  } finally {
    for (const rel of added) await rm(join(root, rel), { recursive: true, force: true });
  }
  const serialFile = join(work, 'serial.log');
  await writeFile(serialFile, '');
  const [p443, p8080] = [await freePort(), await freePort()];
  // KVM here (nested, PVM) printed nothing at all for this kernel, not even earlyprintk, while
  // TCG boots it: TCG by default, CE_TEST_BOOT_ACCEL=kvm to try KVM.
  const accel = process.env.CE_TEST_BOOT_ACCEL ?? 'tcg';
  const vm: ResultPromise = execa('qemu-system-x86_64', [
    '-accel', accel, ...(accel === 'tcg' ? ['-cpu', 'max'] : []), '-m', '1024', '-smp', '2', '-display', 'none', '-no-reboot',
    '-kernel', kernel.vmlinuz, '-initrd', kernel.initrd,
    '-append', 'root=/dev/vda rw console=ttyS0 init=/lib/systemd/systemd systemd.journald.forward_to_console=1 panic=-1',
    '-drive', `file=${disk},format=raw,if=virtio`,
    '-nic', `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${p443}-:443,hostfwd=tcp:127.0.0.1:${p8080}-:8080`,
    '-serial', `file:${serialFile}`,
  ], { reject: false });
  try {
    const deadline = Date.now() + timeoutMs;
    let serial = '';
    while (Date.now() < deadline && vm.exitCode === null) {
      serial = await readFile(serialFile, 'utf8');
      if (/CE-PROBE-LISTENING/.test(serial) || /CE-FIRSTBOOT-ERROR|Kernel panic/.test(serial)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const listening = /CE-PROBE-LISTENING/.test(serial);
    const https = listening ? await greet(p443, 5000) : 'not-listening';
    const other = listening ? await greet(p8080, 5000) : 'not-listening';
    return { serial: await readFile(serialFile, 'utf8'), https, other };
  } finally {
    vm.kill('SIGKILL');
    await vm;
    await rm(disk, { force: true });
  }
}
