#!/usr/bin/env bash
# Renders the pictures the docs show and screenshots them in headless Chromium
# (Debian: apt-get install chromium). Run from the repository root:
#   docs/figures/screenshot.sh
set -euo pipefail
out=docs/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${CARGO_TARGET_DIR:-target}/release
cargo build --release -q -p raft-model
model=$bin/raft-model

shoot() { # shoot PAGE PNG WIDTH HEIGHT
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --hide-scrollbars --window-size="$3,$4" \
    --screenshot="$2" "file://$(realpath "$1")" >/dev/null 2>&1
  echo "wrote $2"
}

# Figure 8: the consequence of commit-previous-term (Leader Completeness, 35 steps).
"$model" check --bug commit-previous-term --no-transitions --html "$tmp/fig8.html" >/dev/null 2>&1 || true
shoot "$tmp/fig8.html" "$out/fig8.png" 1100 2250

# A conformance divergence: the correct core departs from install-discards-suffix's
# counterexample at its last step (the model's diagram, the step side by side).
cargo build --release -q -p raft-conformance
$bin/raft-conformance replay conformance/traces/install-discards-suffix.json \
  --html "$tmp/divergence.html" >/dev/null
shoot "$tmp/divergence.html" "$out/conformance-divergence.png" 1400 1400

# A soak seed's timeline: seed 196 with the runtime that sends before it syncs (Leader
# Completeness at 21.4 s): the start of the whole run and the close-up before the violation.
cargo build --release -q -p raft-sim
"$bin/raft-sim" --seed 196 --runtime-fault send-before-sync --html "$tmp/sim.html" >/dev/null || true
shoot "$tmp/sim.html" "$out/sim-timeline.png" 1400 1100

# A client history that is not linearizable: the simulated KV service without sessions (a
# retried append applies twice); the longest linearization numbered, the rest in red.
cargo build --release -q -p raft-kv --bin raftkv --example history_without_sessions
"$bin/examples/history_without_sessions" "$tmp/bad.json" >/dev/null
"$bin/raftkv" check-history "$tmp/bad.json" --html "$tmp/bad.html" >/dev/null || true
shoot "$tmp/bad.html" "$out/history-not-linearizable.png" 1920 280
