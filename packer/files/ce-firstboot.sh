#!/bin/bash
# First boot of a CE VM (run once by ce-firstboot.service, as root, before ce.service):
#   1. find the connector CA: the provisioning file /etc/ce/connector-ca.pem, else the
#      platform's instance metadata (one reader per platform, same interface);
#   2. generate the TLS identity with openssl: ECDSA P-256 key + self-signed server
#      certificate (never baked into the image; this is the only place a key is made);
#   3. write /etc/ce/connector.env (CE_CLIENT_CA=…, CE_SERVER_NAMES=…) for ce.service;
#   4. print the certificate's SHA-256 fingerprint to the serial console and the journal:
#        CE-TLS-FINGERPRINT sha256=AB:CD:…
#      so the connector can pin it.
# Idempotent: an existing key is kept (same fingerprint), the done-marker ends the job.
#
# Environment (for tests and special platforms; defaults are the VM's paths):
#   CE_ROOT          prefix of every path (default /)
#   CE_PLATFORM      packer source type written at build (azure-arm, amazon-ebs, googlecompute,
#                    vsphere-clone, qemu); default from /etc/ce/platform
#   CE_METADATA_URL  base URL of the metadata service (default http://169.254.169.254)
#   CE_CONSOLE       where the fingerprint line is also written (default /dev/ttyS0 when writable)
#   CE_SERVICE_USER  owner of the TLS identity (default ce)
set -euo pipefail
umask 077

ROOT="${CE_ROOT:-/}"
ROOT="${ROOT%/}"
ETC="$ROOT/etc/ce"
STATE="$ROOT/var/lib/ce"
TLS="$STATE/tls"
CA_FILE="$ETC/connector-ca.pem"
PLATFORM="${CE_PLATFORM:-$(cat "$ETC/platform" 2>/dev/null || echo unknown)}"
MD="${CE_METADATA_URL:-http://169.254.169.254}"
USER_NAME="${CE_SERVICE_USER:-ce}"

log() { echo "ce-firstboot: $*" >&2; }
console() {
  # stdout goes to the journal and /dev/console (unit: StandardOutput=journal+console);
  # write the serial port too, where the clouds capture it, when it exists.
  echo "$*"
  local c="${CE_CONSOLE:-/dev/ttyS0}"
  if [ -n "$c" ] && { [ -c "$c" ] || [ "${c#/dev/}" = "$c" ]; }; then
    { echo "$*" >>"$c"; } 2>/dev/null || true
  fi
}
fail() {
  console "CE-FIRSTBOOT-ERROR $*"
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Connector CA readers. Interface: `ca_from_<name>` prints PEM on stdout or returns non-zero.
# Where each platform puts custom data:
#   - provisioning file: /etc/ce/connector-ca.pem, written by cloud-init `write_files` (any
#     cloud; vSphere/QEMU seed ISO), by a config-management step, or baked for a private image.
#   - Azure: "custom data" lands in /var/lib/waagent/CustomData (base64 when provisioned by
#     the agent) and is handed to cloud-init; "user data" is served by IMDS at
#     /metadata/instance/compute/userData (base64, header Metadata: true).
#   - AWS: "user data" at /latest/user-data (IMDSv2: PUT /latest/api/token first).
#   - GCP: instance metadata attribute `ce-connector-ca` at
#     /computeMetadata/v1/instance/attributes/ce-connector-ca (header Metadata-Flavor: Google).
#   - vSphere: the guestinfo variable `guestinfo.ce.connector-ca` (open-vm-tools rpctool).
# The metadata payload is either the PEM itself or a document that contains it (only the
# CERTIFICATE blocks are kept).
# ---------------------------------------------------------------------------------------------
curl_md() { curl -fsS --connect-timeout 2 --max-time 10 --retry 5 --retry-delay 2 --retry-connrefused "$@"; }

ca_from_file() { [ -s "$CA_FILE" ] && cat "$CA_FILE"; }

# cloud-init keeps the raw user data (any cloud, also Azure custom data) here. Only a payload
# that is not a cloud-config/script is taken (a cloud-config uses write_files -> the file path).
ca_from_cloudinit() {
  local f="$ROOT/var/lib/cloud/instance/user-data.txt"
  [ -s "$f" ] || return 1
  case "$(head -c 64 "$f")" in '#cloud-config'* | '#!'* | 'Content-Type'*) return 1 ;; esac
  cat "$f"
}

ca_from_googlecompute() {
  curl_md -H 'Metadata-Flavor: Google' "$MD/computeMetadata/v1/instance/attributes/ce-connector-ca"
}

ca_from_amazon_ebs() {
  local token
  token=$(curl_md -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$MD/latest/api/token") || return 1
  curl_md -H "X-aws-ec2-metadata-token: $token" "$MD/latest/user-data"
}

ca_from_azure_arm() {
  local f="$ROOT/var/lib/waagent/CustomData"
  if [ -s "$f" ]; then
    if grep -q 'BEGIN CERTIFICATE' "$f"; then cat "$f"; else base64 -d "$f"; fi
    return
  fi
  curl_md -H 'Metadata: true' "$MD/metadata/instance/compute/userData?api-version=2021-01-01&format=text" | base64 -d
}

ca_from_vsphere_clone() { vmware-rpctool 'info-get guestinfo.ce.connector-ca' 2>/dev/null; }
ca_from_vsphere_iso() { ca_from_vsphere_clone; }

# Keep only the PEM certificate blocks of a payload.
pem_certs() { sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'; }

find_connector_ca() {
  local reader out
  for reader in file cloudinit "${PLATFORM//-/_}"; do
    declare -F "ca_from_$reader" >/dev/null || continue
    out=$("ca_from_$reader" 2>/dev/null | pem_certs) || true
    if [ -n "$out" ]; then
      log "connector CA from $reader"
      printf '%s\n' "$out"
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
mkdir -p "$ETC" "$TLS"
chmod 0755 "$ETC"

ca_pem=$(find_connector_ca) || fail "no connector CA: put it in /etc/ce/connector-ca.pem or the instance metadata (platform ${PLATFORM}); see /opt/ce/packer/README.md"
tmp_ca=$(mktemp "$ETC/.connector-ca.XXXXXX")
printf '%s\n' "$ca_pem" >"$tmp_ca"
openssl x509 -in "$tmp_ca" -noout 2>/dev/null || { rm -f "$tmp_ca"; fail "the connector CA is not a PEM certificate"; }
openssl x509 -in "$tmp_ca" -noout -checkend 0 >/dev/null 2>&1 || { rm -f "$tmp_ca"; fail "the connector CA certificate has expired"; }
chmod 0644 "$tmp_ca"
mv -f "$tmp_ca" "$CA_FILE"

# Names in the server certificate: the host name and the addresses at first boot. The
# connector pins the fingerprint, so a later address change does not break it.
host=$(hostname 2>/dev/null || echo ce)
names=("$host" localhost)
ips=(127.0.0.1)
for ip in $(hostname -I 2>/dev/null || true); do ips+=("$ip"); done
san="DNS:${names[0]},DNS:${names[1]}"
for ip in "${ips[@]}"; do san="$san,IP:$ip"; done

if [ ! -s "$TLS/server.key" ] || [ ! -s "$TLS/server.crt" ]; then
  rm -f "$TLS/server.key" "$TLS/server.crt"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TLS/server.key.tmp" -out "$TLS/server.crt.tmp" -days 825 -sha256 \
    -subj "/O=Compositing Engine/CN=$host" \
    -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null || fail "openssl could not create the TLS identity"
  mv -f "$TLS/server.key.tmp" "$TLS/server.key"
  mv -f "$TLS/server.crt.tmp" "$TLS/server.crt"
  log "TLS identity created in /var/lib/ce/tls"
else
  log "TLS identity exists, kept"
fi

fp=$(openssl x509 -in "$TLS/server.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')
echo "$fp" >"$TLS/server.sha256"

# The service runs as $USER_NAME: it owns its identity. Resolve ids from this root's passwd
# (CE_ROOT may be a prefix whose users the host does not know).
uid=$(awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$ROOT/etc/passwd")
gid=$(awk -F: -v u="$USER_NAME" '$1 == u { print $4 }' "$ROOT/etc/passwd")
[ -n "$uid" ] || fail "the service user $USER_NAME does not exist"
chown "$uid:$gid" "$STATE" "$TLS" "$TLS/server.key" "$TLS/server.crt" "$TLS/server.sha256"
chmod 0750 "$STATE"
chmod 0700 "$TLS"
chmod 0600 "$TLS/server.key"
chmod 0644 "$TLS/server.crt" "$TLS/server.sha256"

server_names=$(IFS=,; echo "${names[*]},${ips[*]}")
cat >"$ETC/connector.env.tmp" <<EOF
# Written by ce-firstboot.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). The connector CA replaces the
# local client CA of \`ce serve\`: only client certificates it issued are accepted.
CE_CLIENT_CA=/etc/ce/connector-ca.pem
CE_SERVER_NAMES=$server_names
EOF
chmod 0644 "$ETC/connector.env.tmp"
mv -f "$ETC/connector.env.tmp" "$ETC/connector.env"

console "CE-TLS-FINGERPRINT sha256=$fp"
touch "$STATE/.firstboot-done"
