#!/usr/bin/env bash
# Makes a test CA and a server certificate for loopback and the LLM vendors' API hosts
# (so a client that resolves e.g. api.deepseek.com or bedrock-runtime.us-east-1.amazonaws.com
# to 127.0.0.1 verifies the server over real TLS).
#   make_certs.sh DIR   -> DIR/ca.pem DIR/ca.key DIR/server.pem DIR/server.key DIR/server.san
# Idempotent: does nothing when all files exist and DIR/server.san equals the subjectAltName
# below; a directory made by an older version (other names) gets a new leaf certificate, signed
# by its existing CA when it has one.  Safe to run concurrently (serialised with flock; files are
# made in a temporary directory, then moved, server.san last).
set -euo pipefail
set -f  # no globbing: the names below hold wildcards
dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"

# Loopback, the vendors' hosts, and wildcards where one certificate name covers many
# (regional Vertex AI hosts, Azure resources, Bedrock's per-region hosts).
regions="us-east-1 us-east-2 us-west-2 eu-west-1 eu-west-3 eu-central-1 ap-northeast-1 ap-southeast-1 ap-southeast-2 ap-south-1 ca-central-1 sa-east-1"
names="localhost api.anthropic.com api.openai.com chatgpt.com
  generativelanguage.googleapis.com cloudcode-pa.googleapis.com aiplatform.googleapis.com
  us-east5-aiplatform.googleapis.com us-central1-aiplatform.googleapis.com
  europe-west1-aiplatform.googleapis.com europe-west4-aiplatform.googleapis.com
  asia-southeast1-aiplatform.googleapis.com *.googleapis.com
  myres.openai.azure.com *.openai.azure.com myres.cognitiveservices.azure.com
  *.cognitiveservices.azure.com myres.services.ai.azure.com *.services.ai.azure.com
  api.deepseek.com openrouter.ai api.moonshot.ai api.moonshot.cn api.z.ai open.bigmodel.cn
  api.minimax.io api.minimaxi.com api.x.ai api.augmentcode.com *.api.augmentcode.com"
for r in $regions; do
  names+=" bedrock-runtime.$r.amazonaws.com bedrock.$r.amazonaws.com *.$r.amazonaws.com"
done
san="IP:127.0.0.1, IP:::1"
for n in $names; do san+=", DNS:$n"; done

have_all() {
  [[ -s $dir/ca.pem && -s $dir/ca.key && -s $dir/server.pem && -s $dir/server.key && -s $dir/server.san ]] &&
    [[ $(<"$dir/server.san") == "$san" ]]
}
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

cat > leaf.ext <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

if [[ -s $dir/ca.pem && -s $dir/ca.key ]]; then
  cp "$dir/ca.pem" "$dir/ca.key" .  # keep the CA that clients may already trust
else
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
  openssl req -new -x509 -sha256 -days 3650 -key ca.key -config ca.cnf -out ca.pem
fi
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
openssl req -new -sha256 -key server.key -subj "/CN=localhost/O=tokentap tests" -out server.csr
openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key \
  -set_serial "0x$(openssl rand -hex 16)" -extfile leaf.ext -out server.pem 2>/dev/null
openssl verify -CAfile ca.pem server.pem >/dev/null
chmod 600 ca.key server.key
chmod 644 ca.pem server.pem

printf '%s\n' "$san" > server.san
chmod 644 server.san
# server.san last: have_all is true only once the whole set is in place.
for f in ca.key ca.pem server.key server.pem server.san; do mv -f "$f" "$dir/$f"; done
