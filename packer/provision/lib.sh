# Shared by the provisioning steps (sourced). Every path goes through $R (the target root):
# "/" in a Packer build or a chroot, a plain directory with CE_ROOT=<dir> (tests: the steps
# that need the target's own binaries, apt and the NodeSource repo, are then skipped or take
# their input from files, and say so).
set -euo pipefail
CE_ROOT="${CE_ROOT:-/}"
R="${CE_ROOT%/}"
PROVISION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FILES_DIR="${CE_FILES_DIR:-$PROVISION_DIR/../files}"
CE_USER=ce
export DEBIAN_FRONTEND=noninteractive

log() { echo "ce-provision[$(basename "${0%.sh}")]: $*" >&2; }
die() {
  echo "ce-provision[$(basename "${0%.sh}")]: ERROR: $*" >&2
  exit 1
}
in_prefix() { [ -n "$R" ]; }
