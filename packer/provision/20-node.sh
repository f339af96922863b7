#!/bin/bash
# Node.js 20 (Debian 12 ships 18): NodeSource's apt repository, or an official tarball given
# in CE_NODE_DIST (offline builds, tests). /usr/bin/node is the entry of ce.service either way.
source "$(dirname "$0")/lib.sh"
major="${CE_NODE_MAJOR:-20}"
if [ -n "${CE_NODE_DIST:-}" ]; then
  [ -f "$CE_NODE_DIST" ] || die "CE_NODE_DIST=$CE_NODE_DIST does not exist"
  rm -rf "$R/opt/node" && install -d -m 0755 "$R/opt/node" "$R/usr/bin"
  tar -xf "$CE_NODE_DIST" -C "$R/opt/node" --strip-components=1 --no-same-owner
  # Relative link: resolves inside the target root (systemd-analyze --root, chroot) as well.
  ln -sfn ../../opt/node/bin/node "$R/usr/bin/node"
  log "node from $(basename "$CE_NODE_DIST")"
elif in_prefix; then
  die "CE_ROOT mode needs CE_NODE_DIST (the NodeSource repository installs only into /)"
else
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key -o /etc/apt/keyrings/nodesource.asc
  echo "deb [signed-by=/etc/apt/keyrings/nodesource.asc] https://deb.nodesource.com/node_${major}.x nodistro main" >/etc/apt/sources.list.d/nodesource.list
  apt-get update -q
  apt-get install -y -q nodejs
fi
v=$("$R/usr/bin/node" --version)
case "$v" in "v$major."*) log "node $v" ;; *) die "node $v installed, expected v$major.x" ;; esac
