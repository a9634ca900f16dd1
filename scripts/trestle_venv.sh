#!/usr/bin/env sh
# Creates a Python venv with compliance-trestle (NIST OSCAL pydantic models) for the OSCAL test.
# Usage: scripts/trestle_venv.sh [VENV_DIR]   (default: target/trestle-venv)
# Then:  ACTTRACE_TRESTLE_PYTHON=<VENV_DIR>/bin/python cargo test --test oscal
set -eu
dir="${1:-$(dirname "$0")/../target/trestle-venv}"
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --upgrade pip
"$dir/bin/pip" install --quiet "compliance-trestle>=3,<4"
"$dir/bin/python" -c "import trestle.oscal.assessment_results as ar; print('compliance-trestle ready:', ar.__name__)"
echo "export ACTTRACE_TRESTLE_PYTHON=$(cd "$dir" && pwd)/bin/python"
