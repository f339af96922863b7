#!/usr/bin/env bash
# One idempotent setup for `npm start`, `npm test` and CI:
#  1. the Debian packages the CE calls (installed when run as root, else the exact apt-get line is printed and we stop);
#  2. node_modules (npm ci when missing or older than package-lock.json);
#  3. the native addons: AES-GCM for SMB encryption, the local data path of conversions
#     (scripts/build-native.sh; optional at run time);
#  4. for `start`: the compiled service in dist/.
# Usage: scripts/setup.sh [--for start|test|ci]
set -euo pipefail
cd "$(dirname "$0")/.."
FOR=test
[ "${1:-}" = "--for" ] && FOR="${2:-test}"

# Keep in sync with core/tools.ts TOOL_PACKAGES. Each line: package  (why)
PACKAGES=(
  qemu-utils           # qemu-img: the oracle for disk formats
  ntfs-3g              # mkntfs, ntfs-3g: mount Windows volumes
  mount                # losetup, mount, umount
  fdisk                # sfdisk: partition synthetic disks in tests
  mtools               # EFI system partition (FAT) without a kernel vfat driver
  samba                # smbd, smbpasswd: the real SMB server tests start
  smbclient            # reference SMB client (read back, benchmarks)
  libhivex-bin         # hivexsh, hivexget: the oracle for registry hives
  nftables             # network isolation rules
  iproute2             # ip netns for isolation tests
  openssl              # certificate checks in tests
  curl                 # the command npm start prints
  file                 # checks built binaries
  cpio                 # tiny guest initramfs for the boot driver test
  psmisc               # fuser: tests wait until ntfs-3g has closed a loop device
  keyutils             # keyctl: running jobs' credentials survive a CE restart in the kernel keyring
  gcc                  # builds network/smb/native and disk/native (the headers come with Node)
  libc6-dev            # its C headers
)
# Packages for the later parts (first-boot runner, boot driver, CE image build). Installed for test and ci.
if [ "$FOR" != "start" ]; then
  # linux-image-amd64: the kernel and AHCI modules of the tiny guest in test/vda/boot.test.ts
  PACKAGES+=(packer systemd qemu-system-x86 ovmf gcc-mingw-w64-x86-64 busybox-static linux-image-amd64)
  PACKAGES+=(debootstrap)  # a real Debian 12 root for the CE image provisioning test (test/packer)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/ce-setup-apt.log 2>&1; then
      apt-get update -q >/dev/null 2>&1 || true
      apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/ce-setup-apt.log 2>&1 || {
        echo "setup: apt-get install failed; see /tmp/ce-setup-apt.log" >&2; tail -20 /tmp/ce-setup-apt.log >&2; exit 1; }
    fi
  else
    echo "setup: missing system packages. Run as root:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# node_modules: npm ci when missing or stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

bash scripts/build-native.sh --quiet

if [ "$FOR" = "start" ]; then
  npx tsc -p tsconfig.build.json >&2
fi
