#!/bin/bash
# The systemd units, the first-boot script and the service environment.
source "$(dirname "$0")/lib.sh"
install -d -m 0755 "$R/etc/systemd/system" "$R/usr/lib/ce" "$R/etc/ce"
for u in ce.service ce-firstboot.service ce-isolation.service; do
  install -m 0644 "$FILES_DIR/$u" "$R/etc/systemd/system/$u"
done
install -m 0755 "$FILES_DIR/ce-firstboot.sh" "$R/usr/lib/ce/ce-firstboot.sh"
install -m 0644 "$FILES_DIR/ce.env" "$R/etc/ce/ce.env"
echo "${CE_PLATFORM:-unknown}" >"$R/etc/ce/platform"
chmod 0644 "$R/etc/ce/platform"
# The state directory belongs to ce (systemd's StateDirectory= would do it too, first boot
# writes into it before).
install -d -m 0750 "$R/var/lib/ce"
uid=$(awk -F: -v u="$CE_USER" '$1 == u { print $3 ":" $4 }' "$R/etc/passwd")
chown "$uid" "$R/var/lib/ce"
# `systemctl --root` only creates the [Install] symlinks: works offline, in a chroot and in a prefix.
systemctl --root="$CE_ROOT" enable ce-isolation.service ce-firstboot.service ce.service
log "units installed and enabled"
