#!/bin/bash
# The `ce` system user: no login, no password, home = the state directory. Its privileges come
# from ce.service only (ambient CAP_SYS_ADMIN + CAP_NET_BIND_SERVICE, groups disk and kvm),
# never from group memberships in /etc/group or sudo.
source "$(dirname "$0")/lib.sh"
prefix=()
in_prefix && prefix=(--prefix "$R")
grep -q '^kvm:' "$R/etc/group" || groupadd --system "${prefix[@]}" kvm
grep -q '^disk:' "$R/etc/group" || groupadd --system "${prefix[@]}" disk
if ! grep -q "^$CE_USER:" "$R/etc/passwd"; then
  useradd --system "${prefix[@]}" --user-group --home-dir /var/lib/ce --no-create-home \
    --shell /usr/sbin/nologin --comment "Compositing Engine" "$CE_USER"
fi
passwd "${prefix[@]}" -l "$CE_USER" >/dev/null 2>&1 || true
log "user $(grep "^$CE_USER:" "$R/etc/passwd")"
