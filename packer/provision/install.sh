#!/bin/bash
# The one provisioning path of every platform (packer/ce.pkr.hcl runs it as root on the build
# VM; test/packer runs it in a throwaway root). Steps, in order:
#   10 packages  20 node  30 release  40 user  50 units  60 firewall  90 verify
# Environment:
#   CE_RELEASE_TARBALL  build/ce-<version>.tar.gz from `npm run package` (required)
#   CE_NODE_MAJOR       Node.js major from NodeSource (default 20)
#   CE_NODE_DIST        official node-vXX-linux-x64.tar.{xz,gz} to install instead (offline)
#   CE_ISOLATION_ARGS   extra args of `ce isolation rules` (e.g. "--dns 10.0.0.2")
#   CE_PLATFORM         packer source type (azure-arm, amazon-ebs, googlecompute, vsphere-clone, qemu)
#   CE_ROOT             target root (default /); another directory = chroot-free test mode
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for step in 10-packages 20-node 30-release 40-user 50-units 60-firewall 90-verify; do
  echo "ce-provision: == $step" >&2
  bash "$here/$step.sh"
done
echo "ce-provision: done" >&2
