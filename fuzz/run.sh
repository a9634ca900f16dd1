#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, then minimises its corpus.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
export RUSTC_BOOTSTRAP=1
for t in line_parser canonical verify; do
    cargo fuzz run "$t" -O -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 2>&1 | tail -n 12
    cargo fuzz cmin "$t" -O 2>&1 | tail -n 2
done
