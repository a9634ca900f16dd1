#!/usr/bin/env bash
# Runs the whole test suite. On first use it installs what the cross-checks need:
#  - the reference verifier (Python cendor-acttrace 1.14.0) in target/refvenv, for interop tests;
#  - compliance-trestle (NIST OSCAL models) in target/trestle-venv, for the OSCAL test;
#  - Debian's chromium, for the HTML report test, when running as root (otherwise that test
#    reports itself skipped; under CI it fails instead);
#  - Debian's golang-go and golang-golang-x-mod-dev, for the Go cross-check of checkpoints
#    (tests/go_interop.rs builds interop/go-tlog offline against them), when running as root;
#  - Debian's nats-server, for the NATS JetStream writer and reader tests (tests/nats.rs), when
#    running as root (same rule).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

refvenv=target/refvenv
if ! "$refvenv/bin/python" -c 'import cendor.acttrace' 2>/dev/null; then
    echo "== installing the reference verifier (cendor-acttrace==1.14.0) into $refvenv"
    python3 -m venv "$refvenv"
    "$refvenv/bin/pip" install --quiet --disable-pip-version-check cendor-acttrace==1.14.0
fi
trestle=target/trestle-venv
if ! "$trestle/bin/python" -c 'import trestle.oscal.assessment_results' 2>/dev/null; then
    echo "== installing compliance-trestle into $trestle"
    sh scripts/trestle_venv.sh "$trestle" >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium (Debian) for the HTML report test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if { ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/golang.org/x/mod/sumdb/note ]; } \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Go and golang.org/x/mod (Debian) for the checkpoint cross-check"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        golang-go golang-golang-x-mod-dev >/dev/null
fi
if ! command -v nats-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing nats-server (Debian) for the NATS JetStream tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi

export ACTTRACE_REFERENCE_PYTHON="$PWD/$refvenv/bin/python"
export ACTTRACE_TRESTLE_PYTHON="$PWD/$trestle/bin/python"
export CENDOR_TELEMETRY=off

cargo test --all-features "$@"
# Real LLM client crates (genai, rig) against a local mock OpenAI server, captured by acttrace.
# A separate workspace crate: their HTTP stacks stay out of acttrace's own build.
cargo test -p acttrace-genai-clients "$@"
