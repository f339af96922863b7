#!/usr/bin/env bash
# `npm run package`: the release tarball the CE image installs (packer/provision/30-release.sh).
#   build/ce-<version>.tar.gz
#     ce-<version>/dist/           compiled JavaScript (tsc -p tsconfig.build.json), the native addons
#     ce-<version>/bin/ce.cjs       CLI entry (runs dist/)
#     ce-<version>/node_modules/   production dependencies only (npm prune --omit=dev)
#     ce-<version>/package.json, package-lock.json
#     ce-<version>/packer/         the image build (template, provisioning, units, first boot)
#     ce-<version>/network/isolation/README.md, packer/README.md
# Usage: scripts/package.sh [output-dir]   (default build/)
# Never in it: var/ (state), tests, benchmarks, TypeScript sources, keys or certificates.
# Offline: node_modules is copied from the working tree and pruned, not downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p "require('./package.json').version")
name="ce-$version"
outdir="${1:-build}"   # tests pass their own temp directory
out="$outdir/$name.tar.gz"
stage="$outdir/stage-$$"
rm -rf "$stage" && mkdir -p "$stage/$name"
dst="$stage/$name"

echo "package: compiling" >&2
npx tsc -p tsconfig.build.json --outDir "$dst/dist" --sourceMap false
bash scripts/build-native.sh --quiet
# The native addons beside their loaders (optional: without them SMB encryption uses node:crypto
# and conversions the JS data path).
for addon in network/smb/native/ce-aead.node disk/native/ce-disk.node; do
  if [ -f "$addon" ]; then
    mkdir -p "$dst/dist/$(dirname "$addon")" && cp "$addon" "$dst/dist/$addon"
  fi
done

cp package.json package-lock.json "$dst/"
cp -r bin "$dst/bin"
mkdir -p "$dst/packer" "$dst/network/isolation"
cp -r packer/ce.pkr.hcl packer/README.md packer/files packer/provision packer/cloud-init "$dst/packer/"
cp network/isolation/README.md "$dst/network/isolation/"

echo "package: production node_modules" >&2
[ -d node_modules ] || { echo "package: run npm ci first" >&2; exit 1; }
# Copy only the production tree (`npm ls --omit=dev`: a fraction of node_modules), then let
# npm prune check it against the lockfile.
root=$(pwd)
mkdir -p "$dst/node_modules"
prev=""
while IFS= read -r p; do
  rel="${p#"$root"/}"
  [ "$p" = "$root" ] && continue
  if [ -n "$prev" ] && [[ "$rel" == "$prev"/* ]]; then continue; fi # inside a copied package
  cp -a --parents "$rel" "$dst/"
  prev="$rel"
done < <(npm ls --omit=dev --all --parseable 2>/dev/null | sort)
(cd "$dst" && npm prune --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null 2>&1) || {
  echo "package: npm prune failed" >&2
  exit 1
}
rm -rf "$dst/node_modules/.cache"

# What must never ship.
problems=$(cd "$stage" && {
  # Our state and tests (dependencies' own test files are theirs: not checked, not run).
  find "$name" -path "$name/node_modules" -prune -o \( -path "$name/var" -o -path "$name/test" -o -path "$name/dist/test" -o -name '*.test.*' -o -name '*.partial' \) -print
  find "$name" -type f \( -name '*.key' -o -name '*.p12' -o -name '*.pfx' \) -print
  grep -rlE -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' "$name" 2>/dev/null || true
  find "$name/dist" -name '*.ts' ! -name '*.d.ts' -print
} | sort -u)
if [ -n "$problems" ]; then
  echo "package: refusing to ship:" >&2
  echo "$problems" | sed 's/^/  /' >&2
  exit 1
fi

mkdir -p "$outdir"
# Reproducible-ish: fixed owner, sorted names, mtime of the last commit.
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$mtime" -czf "$out.partial" "$name"
mv -f "$out.partial" "$out"
rm -rf "$stage"
echo "package: $out ($(du -h "$out" | cut -f1))" >&2
echo "$out"
