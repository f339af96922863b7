#!/usr/bin/env bash
# Build the Windows binaries the CE stages into images (npm run build:windows):
#   build/windows/cefirstboot.exe  the first-boot service host (vda/firstboot/host/cefirstboot.c)
# Cross-compiled with Debian's mingw-w64; reproducible (no PE timestamp), not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-x86_64-w64-mingw32-gcc}
command -v "$CC" >/dev/null || { echo "build-windows: $CC missing: apt-get install -y gcc-mingw-w64-x86-64" >&2; exit 1; }
OUT=${CE_WINDOWS_BUILD_DIR:-build/windows}
mkdir -p "$OUT"
"$CC" -municode -O2 -s -std=c11 -Wall -Wextra -Werror \
  -static-libgcc -Wl,--no-insert-timestamp -Wl,--subsystem,console \
  -o "$OUT/cefirstboot.exe.partial" vda/firstboot/host/cefirstboot.c -ladvapi32
mv "$OUT/cefirstboot.exe.partial" "$OUT/cefirstboot.exe"
echo "build-windows: $OUT/cefirstboot.exe ($(stat -c %s "$OUT/cefirstboot.exe") bytes)"
