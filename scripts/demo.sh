#!/usr/bin/env bash
# Sets up everything and runs tokentap's main job on a fresh machine, with no
# API key and no network: installs dependencies, builds, starts the bundled
# test LLM server (TLS on loopback, its own test CA) and profiles the bundled
# demo agent (Node, OpenSSL) talking to it. Prints tokentap's report.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: tokentap loads BPF programs; run as root: sudo $0" >&2
  exit 1
fi
scripts/install-deps.sh
scripts/build.sh
work=$(mktemp -d /tmp/tokentap-demo.XXXXXX)
trap 'kill "${srv:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
bash tests/llmserver/make_certs.sh "$work/certs" >/dev/null
/usr/bin/python3 tests/llmserver/llmserver.py --cert-dir "$work/certs" --log "$work/server.log" \
  --port 0 --ready-file "$work/port" 2>"$work/server.err" &
srv=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
[[ -s $work/port ]] || { echo "demo: test server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }
port=$(cat "$work/port")
echo "demo: test LLM server on https://127.0.0.1:$port, playing api.anthropic.com and api.openai.com" \
  "(the agent resolves those names to it); running the demo agent under tokentap profile"
./build/tokentap profile --json "$work/records.jsonl" -- \
  /usr/bin/node tests/clients/demo_agent.mjs --base-url "https://api.anthropic.com:$port" \
  --openai-base-url "https://api.openai.com:$port/v1" --ca "$work/certs/ca.pem" \
  --resolve api.anthropic.com:127.0.0.1 --resolve api.openai.com:127.0.0.1
echo "demo: the server logged $(grep -vc '"provider": *"none"' "$work/server.log" || true) LLM calls"
