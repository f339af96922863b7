#!/bin/bash
# Generalise the build VM into an image (packer runs it last; not part of install.sh): nothing
# that identifies this VM or grants access to it may be copied into every CE.
source "$(dirname "$0")/lib.sh"
in_prefix && die "cleanup.sh runs on the build VM only"
apt-get clean
rm -rf /var/lib/apt/lists/*
rm -f /etc/ssh/ssh_host_*                 # regenerated at first boot (cloud-init / ssh keygen unit)
truncate -s 0 /etc/machine-id             # a fresh machine-id per VM (systemd first boot)
rm -f /var/lib/dbus/machine-id
command -v cloud-init >/dev/null && cloud-init clean --logs --seed || true
# The QEMU build user's password (cloud-init/user-data): lock it and drop any key.
if [ "${CE_PLATFORM:-}" = qemu ] && id debian >/dev/null 2>&1; then
  passwd -l debian
  rm -f /home/debian/.ssh/authorized_keys
fi
rm -f /root/.ssh/authorized_keys
rm -rf /var/lib/ce/* /var/lib/ce/.firstboot-done /etc/ce/connector.env   # a baked connector-ca.pem is kept (private images)
journalctl --rotate >/dev/null 2>&1 && journalctl --vacuum-time=1s >/dev/null 2>&1 || true
bash "$PROVISION_DIR/90-verify.sh"
log "generalised"
