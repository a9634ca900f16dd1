#!/usr/bin/env bash
# Instructions per event on the calling thread, per subscriber stack, from callgrind:
# (instructions at N2 events - instructions at N1 events) / (N2 - N1). Counts every thread, so
# for `audit-in-decision` it includes the sequencer's sealing work too (see docs/PERFORMANCE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example event_cost
bin=target/release/examples/event_cost
n1=${N1:-100000}
n2=${N2:-300000}
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
for case in ${CASES:-registry noop audit}; do
    a=$(count "$case" "$n1")
    b=$(count "$case" "$n2")
    echo "$case: $(( (b - a) / (n2 - n1) )) instructions/event"
done
