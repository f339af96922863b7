#!/usr/bin/env bash
# Build the CE's native addon (network/smb/native/aead.c → network/smb/native/ce-aead.node):
# AES-GCM into caller-given buffers for SMB 3 encryption. It needs a C compiler and the headers
# of the running Node (node_api.h, openssl/ shipped with Node); it links against nothing, the
# symbols come from the node binary at load time. Rebuilt only when the source is newer.
# Without it the CE still works (node:crypto, slower); CI requires it (test/network/native-aead.test.ts).
# Usage: scripts/build-native.sh [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
src=network/smb/native/aead.c
out=network/smb/native/ce-aead.node
[ -f "$out" ] && [ "$out" -nt "$src" ] && exit 0
CC=${CC:-cc}
inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
if ! command -v "$CC" >/dev/null || [ ! -f "$inc/node_api.h" ] || [ ! -f "$inc/openssl/evp.h" ]; then
  echo "build-native: no C compiler ($CC) or Node headers in $inc: SMB encryption uses node:crypto (slower)." >&2
  echo "  Debian: apt-get install -y gcc (the headers come with the nodejs package)" >&2
  exit 0
fi
tmp="$out.tmp.$$"
"$CC" -O2 -Wall -Wextra -fPIC -shared -fvisibility=hidden -I"$inc" -o "$tmp" "$src"
mv -f "$tmp" "$out"
[ "${1:-}" = "--quiet" ] || echo "build-native: built $out" >&2
