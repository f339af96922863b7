/**
 * A tiny Linux guest that plays the Windows first-boot runner, for the boot driver tests.
 * Built from Debian packages at test time: the installed kernel (/boot/vmlinuz-*), its AHCI/SCSI
 * (and e1000) modules, and busybox-static, packed into an initramfs with cpio.
 *
 * Disk layout (kept simple on purpose: the guest kernel has no NTFS driver and the CE kernel no vfat):
 * the raw disk holds, from offset 0, a tar archive of the volume's files (the runner directory as
 * vda/firstboot/runner.ts writes it). The guest extracts it, "runs" each scripts\*.bat in lexical
 * order (checks that it wraps its .ps1), writes results\<name>.json/.exit, moves it to scripts-done,
 * writes `complete` and log lines, records `ls /sys/class/net`, writes the tree back as a tar at
 * offset 0 and powers off. Kernel argument ce_mode=hang makes it never power off (timeout test).
 */
import { copyFile, mkdir, readFile, writeFile, chmod, readdir, truncate } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { execa } from 'execa';

const MODULES = ['sd_mod', 'ahci', 'e1000'];

export async function findKernel(): Promise<{ kernel: string; release: string }> {
  const names = (await readdir('/boot')).filter((n) => n.startsWith('vmlinuz-')).sort();
  const k = names[names.length - 1];
  if (!k) throw new Error('no /boot/vmlinuz-*: apt-get install linux-image-amd64');
  return { kernel: join('/boot', k), release: k.slice('vmlinuz-'.length) };
}

/** Modules in load order (dependencies first), from modules.dep. */
async function moduleOrder(release: string): Promise<string[]> {
  const base = `/lib/modules/${release}`;
  const dep = await readFile(join(base, 'modules.dep'), 'utf8');
  const deps = new Map<string, string[]>();
  for (const line of dep.split('\n')) {
    const [m, rest] = line.split(':');
    if (!m) continue;
    deps.set(m, (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map<string, string>();
  for (const m of deps.keys()) byName.set(basename(m).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_'), m);
  const order: string[] = [];
  const visit = (m: string) => {
    if (order.includes(m)) return;
    // modules.dep lists the full closure, the last entry loads first.
    for (const d of [...(deps.get(m) ?? [])].reverse()) if (!order.includes(d)) visit(d);
    order.push(m);
  };
  for (const want of MODULES) {
    const m = byName.get(want);
    if (m) visit(m);
  }
  return order.map((m) => join(base, m));
}

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /vol
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox --install -s /bin
export PATH=/bin
for m in $(cat /modules.order); do insmod /modules/$m || echo "guest: insmod $m failed"; done
mode=run
for a in $(cat /proc/cmdline); do case $a in ce_mode=*) mode=\${a#ce_mode=};; esac; done
echo "guest: mode $mode"
i=0
while [ ! -b /dev/sda ]; do i=$((i+1)); if [ $i -gt 300 ]; then echo "guest: no /dev/sda"; poweroff -f; fi; sleep 0.1; done
if [ "$mode" = hang ]; then echo "guest: hanging on purpose"; while true; do sleep 60; done; fi
cd /vol && tar -xf /dev/sda
D="/vol/Program Files/CitrixCE/Firstboot"
if [ ! -d "$D/scripts" ]; then echo "guest: no runner on the disk"; poweroff -f; fi
ls /sys/class/net > "$D/results/guest-net.txt"
echo "guest: network devices: $(ls /sys/class/net | tr '\\n' ' ')"
ls "$D/scripts" | sort > /tmp/list
while read f; do
  b=\${f%.bat}
  echo "guest: running $f"
  echo "guest running $f" >> "$D/log.txt"
  if grep -q "Temp.$b.ps1" "$D/scripts/$f" && [ -f "$D/Temp/$b.ps1" ]; then st=ok; code=250; else st=failed; code=1; fi
  printf '{"script":"%s","status":"%s","message":"played by the test guest","exitCode":%s}' "$b" "$st" "$code" > "$D/results/$b.json"
  echo "$code 1" > "$D/results/$b.exit"
  mv "$D/scripts/$f" "$D/scripts-done/$f"
done < /tmp/list
echo complete > "$D/complete"
cd /vol && tar -cf /tmp/out.tar . && dd if=/tmp/out.tar of=/dev/sda bs=65536 2>/dev/null
sync
echo "guest: done, powering off"
poweroff -f
`;

export interface Guest {
  kernel: string;
  initrd: string;
}

/** Build the initramfs into dir (about 3 MB, well under a second). */
export async function buildGuest(dir: string): Promise<Guest> {
  const { kernel, release } = await findKernel();
  const root = join(dir, 'initramfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'modules'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
  const mods = await moduleOrder(release);
  for (const m of mods) await copyFile(m, join(root, 'modules', basename(m)));
  await writeFile(join(root, 'modules.order'), mods.map((m) => basename(m)).join('\n') + '\n');
  await writeFile(join(root, 'init'), INIT);
  await chmod(join(root, 'init'), 0o755);
  const initrd = join(dir, 'initrd.cpio');
  await execa('sh', ['-c', 'find . | cpio -o -H newc --quiet > "$0"', initrd], { cwd: root });
  return { kernel, initrd };
}

/** Pack a volume directory into a raw disk (tar at offset 0, padded to sizeMiB). */
export async function packVolume(volume: string, disk: string, sizeMiB = 64): Promise<void> {
  await execa('tar', ['-C', volume, '-cf', disk, '.']);
  await truncate(disk, sizeMiB * 1024 * 1024);
}

/** Read the guest's tree back from the disk into dir. */
export async function unpackVolume(disk: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await execa('tar', ['-C', dir, '-xf', disk]);
}
