#!/usr/bin/env bash
# Makes a test CA and a server certificate for 127.0.0.1 / localhost.
#   make_certs.sh DIR   -> DIR/ca.pem DIR/ca.key DIR/server.pem DIR/server.key
# Idempotent: does nothing when all four files exist.  Safe to run concurrently
# (serialised with flock; files are made in a temporary directory, then moved).
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
have_all() { [[ -s $dir/ca.pem && -s $dir/ca.key && -s $dir/server.pem && -s $dir/server.key ]]; }
have_all && exit 0
exec 9>"$dir/.make_certs.lock"
flock 9
have_all && exit 0

tmp=$(mktemp -d "$dir/.certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

cat > ca.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = tokentap test CA
O = tokentap tests
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

cat > leaf.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -new -x509 -sha256 -days 3650 -key ca.key -config ca.cnf -out ca.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
openssl req -new -sha256 -key server.key -subj "/CN=localhost/O=tokentap tests" -out server.csr
openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key \
  -set_serial "0x$(openssl rand -hex 16)" -extfile leaf.ext -out server.pem 2>/dev/null
openssl verify -CAfile ca.pem server.pem >/dev/null
chmod 600 ca.key server.key
chmod 644 ca.pem server.pem

# server.pem last: have_all is true only once the whole set is in place.
for f in ca.key ca.pem server.key server.pem; do mv -f "$f" "$dir/$f"; done
