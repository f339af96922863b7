#!/bin/bash
# The boot firewall: /etc/ce/isolation.nft from the installed CE (`ce isolation rules`), so the
# image and the cloud NSG / security group / firewall rules come from the same policy.
source "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2086 # CE_ISOLATION_ARGS is a list of arguments
"$R/usr/bin/node" "$R/opt/ce/bin/ce.cjs" isolation rules --format nft ${CE_ISOLATION_ARGS:-} >"$R/etc/ce/isolation.nft.tmp"
# nft -c parses and checks against the kernel without loading anything (the build VM keeps
# its SSH session; the rules take effect at the next boot).
nft -c -f "$R/etc/ce/isolation.nft.tmp" || die "the generated isolation ruleset does not load"
chmod 0644 "$R/etc/ce/isolation.nft.tmp"
mv -f "$R/etc/ce/isolation.nft.tmp" "$R/etc/ce/isolation.nft"
log "boot firewall: $(grep -c ' accept' "$R/etc/ce/isolation.nft") accept rules"
