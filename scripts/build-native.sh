#!/usr/bin/env bash
# Build the CE's native addons. Both need only a C compiler and the headers of the running Node
# (node_api.h, and openssl/ for the first, all shipped with Node); they link against nothing, the
# symbols come from the node binary at load time. Each is rebuilt only when its source is newer.
#   network/smb/native/aead.c → ce-aead.node  AES-GCM into caller-given buffers (SMB 3 encryption)
#   disk/native/copy.c        → ce-disk.node  the local-file data phase of a conversion, fallocate
# Without them the CE still works (node:crypto and the JS data path, slower); CI requires them
# (test/network/native-aead.test.ts, test/disk/native-copy.test.ts).
# Usage: scripts/build-native.sh [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
if ! command -v "$CC" >/dev/null || [ ! -f "$inc/node_api.h" ] || [ ! -f "$inc/openssl/evp.h" ]; then
  echo "build-native: no C compiler ($CC) or Node headers in $inc: SMB encryption uses node:crypto and conversions the JS data path (slower)." >&2
  echo "  Debian: apt-get install -y gcc (the headers come with the nodejs package)" >&2
  exit 0
fi
build() { # <source> <addon>
  local src=$1 out=$2
  [ -f "$out" ] && [ "$out" -nt "$src" ] && return 0
  local tmp="$out.tmp.$$"
  "$CC" -O2 -Wall -Wextra -fPIC -shared -fvisibility=hidden -I"$inc" -o "$tmp" "$src"
  mv -f "$tmp" "$out"
  [ "${QUIET:-}" = 1 ] || echo "build-native: built $out" >&2
}
[ "${1:-}" = "--quiet" ] && QUIET=1
build network/smb/native/aead.c network/smb/native/ce-aead.node
build disk/native/copy.c disk/native/ce-disk.node
