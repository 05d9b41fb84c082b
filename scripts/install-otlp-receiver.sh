#!/usr/bin/env bash
# Installs what the OTLP e2e test's receiver (tests/otlp/receiver.mjs) decodes with: the official
# OpenTelemetry protobuf definitions, as the protobufjs code @opentelemetry/otlp-transformer
# generates from opentelemetry-proto (build/src/generated/root.js; releases after 0.217.0 no
# longer ship it). From the npm registry into the build tree, $TOKENTAP_OTLP_NODE_DIR (default
# build/otlp-node), where tests/CMakeLists.txt points the e2e tests. Pinned, and skipped when the
# pinned version is there already.
#
# usage: scripts/install-otlp-receiver.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-${TOKENTAP_OTLP_NODE_DIR:-build/otlp-node}}
PKG="@opentelemetry/otlp-transformer@0.57.2"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

stamp="$DIR/.tokentap-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PKG" ]; then
  echo "otlp receiver: $PKG cached in $DIR"
  exit 0
fi
echo "otlp receiver: npm install $PKG into $DIR"
rm -rf "$DIR"; mkdir -p "$DIR"
(cd "$DIR" && npm install --no-save --ignore-scripts --loglevel=error --prefix . "$PKG" >npm.log 2>&1) || {
  echo "otlp receiver: npm install failed; see $DIR/npm.log" >&2; tail -20 "$DIR/npm.log" >&2; exit 1; }
test -f "$DIR/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js" || {
  echo "otlp receiver: $PKG has no build/src/generated/root.js" >&2; exit 1; }
echo "$PKG" > "$stamp"
