#!/usr/bin/env bash
# Throughput with checkpoints against the same workload without them, as pairs run back to back
# (alternating which goes first), so page-cache and load drift hit both sides of each pair:
#   scripts/checkpoint_overhead.sh [PAIRS=9] [DECISIONS=100000] [DIR=/tmp/acttrace-cp-overhead]
# Prints each pair's entries/s and ratio, then the median ratio (checkpoints / plain; 1.0 = no
# cost). Signed and redacted, `SyncPolicy::Batch`, default checkpoint cadence (4,096 entries).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-9}
n=${2:-100000}
dir=${3:-/tmp/acttrace-cp-overhead}
cargo build --release --quiet --example write_throughput
bin=target/release/examples/write_throughput
mkdir -p "$dir"
rate() {
    rm -f "$dir"/log.jsonl*
    "$bin" "$dir/log.jsonl" "$n" signed "$@" 2>/dev/null \
        | sed -n 's/.*"entries_per_s": \([0-9]*\).*/\1/p'
}
ratios=()
for i in $(seq 1 "$pairs"); do
    if (( i % 2 )); then
        plain=$(rate); cp=$(rate checkpoints)
    else
        cp=$(rate checkpoints); plain=$(rate)
    fi
    r=$(awk -v a="$cp" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')
    ratios+=("$r")
    echo "pair $i: plain $plain/s, checkpoints $cp/s, ratio $r (load $(cut -d' ' -f1 /proc/loadavg))"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print "median ratio (checkpoints / plain): " v[int((NR + 1) / 2)] " over " NR " pairs" }'
rm -rf "$dir"
