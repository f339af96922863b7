#!/bin/bash
# System tools the CE calls, from Debian (no recommends: qemu-system-x86 stays ~17 MB).
source "$(dirname "$0")/lib.sh"
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^\s*$/d' "$PROVISION_DIR/packages.list" | tr -d ' ')
install -d -m 0755 "$R/usr/share/ce"
printf '%s\n' "${pkgs[@]}" >"$R/usr/share/ce/packages.list"
if in_prefix; then
  log "CE_ROOT=$CE_ROOT: apt cannot install into a plain directory; recorded ${#pkgs[@]} packages in /usr/share/ce/packages.list"
  exit 0
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
# The CE loads its own table (ce-isolation.service); Debian's nftables.service would flush it.
systemctl disable nftables.service 2>/dev/null || true
