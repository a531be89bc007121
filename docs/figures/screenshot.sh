#!/usr/bin/env bash
# Renders the pictures the docs show and screenshots them in headless Chromium
# (Debian: apt-get install chromium). Run from the repository root:
#   docs/figures/screenshot.sh
set -euo pipefail
out=docs/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build --release -q -p raft-model
model=target/release/raft-model

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
target/release/raft-conformance replay conformance/traces/install-discards-suffix.json \
  --html "$tmp/divergence.html" >/dev/null
shoot "$tmp/divergence.html" "$out/conformance-divergence.png" 1400 1400
