#!/bin/sh
# anonymeter pins numpy < 1.27 and Python < 3.12 and is patent-pending: it lives
# in its own virtualenv, used only by bench/bench_evaluators.py as a reference.
set -e
VENV=${1:-/tmp/anon-venv}
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q "anonymeter==1.1.0" "numpy<1.27" pyarrow
echo "$VENV/bin/python"
