#!/usr/bin/env bash
# Verify wall time next to `openssl dgst -sha256` of the same file, side by side in one run.
#
#   scripts/verify_vs_openssl.sh LOG [RUNS] [KEY]
#
# Runs, alternately and RUNS times each (default 5), after one warm-up read (page cache warm):
# openssl dgst -sha256 LOG; acttrace verify LOG --expect-head H (unsigned check); and, when KEY
# is given, acttrace verify LOG --key-env K --expect-head H (signed). Prints each median, its
# ratio to openssl's median, the peak RSS of the verify runs, and the load average before and
# after (the machine is shared: read the ratios, not the absolute times).
set -euo pipefail
log=$1
runs=${2:-5}
key=${3:-}
bin=${ACTTRACE:-target/release/acttrace}
head=$(tail -n 1 "$log" | sed -n 's/.*"hash": "\([0-9a-f]\{64\}\)".*/\1/p')
cat "$log" >/dev/null
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# wall seconds and max RSS (KiB) of one command, via GNU time
measure() {
  local f
  f=$(mktemp)
  /usr/bin/time -o "$f" -f '%e %M' "$@" >/dev/null 2>&1 || true
  tail -n 1 "$f"
  rm -f "$f"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -a t_ssl t_un t_sig r_un r_sig
for ((i = 0; i < runs; i++)); do
  read -r t _ < <(measure openssl dgst -sha256 "$log"); t_ssl+=("$t")
  read -r t r < <(measure "$bin" verify "$log" --expect-head "$head"); t_un+=("$t"); r_un+=("$r")
  if [[ -n $key ]]; then
    read -r t r < <(measure env K="$key" "$bin" verify "$log" --key-env K --expect-head "$head")
    t_sig+=("$t"); r_sig+=("$r")
  fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
ssl=$(printf '%s\n' "${t_ssl[@]}" | median)
un=$(printf '%s\n' "${t_un[@]}" | median)
echo "file: $log ($(stat -c %s "$log") bytes, $(wc -l <"$log") lines); load before: $load_before, after: $load_after"
echo "openssl dgst -sha256     median ${ssl}s  runs: ${t_ssl[*]}"
echo "verify --expect-head     median ${un}s  runs: ${t_un[*]}  ratio $(awk -v a="$un" -v b="$ssl" 'BEGIN{printf "%.2f", a/b}')x  max RSS KiB: $(printf '%s\n' "${r_un[@]}" | sort -n | tail -1)"
if [[ -n $key ]]; then
  sig=$(printf '%s\n' "${t_sig[@]}" | median)
  echo "verify --key-env (signed) median ${sig}s  runs: ${t_sig[*]}  ratio $(awk -v a="$sig" -v b="$ssl" 'BEGIN{printf "%.2f", a/b}')x  max RSS KiB: $(printf '%s\n' "${r_sig[@]}" | sort -n | tail -1)"
fi
