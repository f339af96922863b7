#!/bin/bash
# The image must not carry key material: the TLS identity is made at first boot, per VM.
source "$(dirname "$0")/lib.sh"
bad=()
for d in "$R/etc/ce" "$R/var/lib/ce" "$R/opt/ce/"; do
  [ -d "$d" ] || continue
  while IFS= read -r f; do bad+=("$f"); done < <(find "$d" -type f \( -name '*.key' -o -name '*.p12' -o -name '*.pfx' \) 2>/dev/null)
  while IFS= read -r f; do bad+=("$f"); done < <(grep -rlE -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' "$d" 2>/dev/null || true)
done
[ -e "$R/var/lib/ce/tls" ] && [ -n "$(ls -A "$R/var/lib/ce/tls" 2>/dev/null)" ] && bad+=("$R/var/lib/ce/tls/")
[ -e "$R/etc/ce/connector.env" ] && bad+=("$R/etc/ce/connector.env (first boot output)")
[ -e "$R/var/lib/ce/.firstboot-done" ] && bad+=("$R/var/lib/ce/.firstboot-done")
if [ "${#bad[@]}" -gt 0 ]; then
  printf '  %s\n' "${bad[@]}" >&2
  die "key material or first-boot state in the image"
fi
# The CE's tools are installed (only where apt ran: not in a CE_ROOT prefix).
if ! in_prefix; then
  for t in qemu-img ntfs-3g losetup hivexsh smbclient keyctl nft mcopy sfdisk qemu-system-x86_64 openssl curl; do
    command -v "$t" >/dev/null || die "tool $t missing"
  done
  [ -f /usr/share/OVMF/OVMF_CODE.fd ] || [ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || die "OVMF firmware missing"
fi
"$R/usr/bin/node" "$R/opt/ce/bin/ce.cjs" version >/dev/null || die "the installed ce does not run"
log "no key material; ce runs"
