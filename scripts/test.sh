#!/usr/bin/env bash
# Runs the whole test suite, including the interop tests against the reference verifier
# (Python cendor-acttrace 1.14.0), which it installs into target/refvenv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/refvenv
if ! "$venv/bin/python" -c 'import cendor.acttrace' 2>/dev/null; then
    echo "== installing the reference verifier (cendor-acttrace==1.14.0) into $venv"
    mkdir -p target
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check cendor-acttrace==1.14.0
fi
export ACTTRACE_REFERENCE_PYTHON="$PWD/$venv/bin/python"
export CENDOR_TELEMETRY=off

cargo test --all-features "$@"
