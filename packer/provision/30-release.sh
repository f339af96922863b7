#!/bin/bash
# The CE release (npm run package): /opt/ce-<version>, /opt/ce -> it. Owned by root and not
# writable by the service user: the code cannot be changed by the process that runs it.
source "$(dirname "$0")/lib.sh"
tarball="${CE_RELEASE_TARBALL:?CE_RELEASE_TARBALL is required (npm run package)}"
[ -f "$tarball" ] || die "release tarball $tarball not found"
top=$(tar -tzf "$tarball" | sed -n '1s|/.*||p') # sed reads the whole list: no SIGPIPE under pipefail
case "$top" in ce-[0-9]*) ;; *) die "$tarball is not a CE release (top directory '$top')" ;; esac
install -d -m 0755 "$R/opt"
rm -rf "$R/opt/$top"
tar -xzf "$tarball" -C "$R/opt" --no-same-owner
chown -R 0:0 "$R/opt/$top"
chmod -R go-w "$R/opt/$top"
ln -sfn "$top" "$R/opt/ce"
[ -f "$R/opt/ce/dist/ce-server/cli/main.js" ] || die "the release has no compiled CLI (dist/)"
log "installed /opt/$top"
