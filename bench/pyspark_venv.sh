#!/usr/bin/env bash
# Create (or reuse) bench/.venv-pyspark: a virtualenv with real PySpark 4.3.0,
# used to record the parity goldens (tests/parity/record_pyspark.py) and by the
# benchmarks that compare fluvial with PySpark. Idempotent: a venv that
# already imports pyspark 4.3.0 is left as it is.
#
#   bench/pyspark_venv.sh                  # from PyPI
#   PYSPARK_FIND_LINKS=/tmp/pyspark_dl bench/pyspark_venv.sh
#                                          # also look for the sdist/wheel there
#
# Needs python3 (>= 3.10) and, to run PySpark, Java 17 or 21 on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PYSPARK_VENV:-$here/.venv-pyspark}"
version="4.3.0"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && \
   "$venv/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$version')" 2>/dev/null; then
  echo "$venv: pyspark $version already installed"
  exit 0
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
find_links=()
if [ -n "${PYSPARK_FIND_LINKS:-}" ]; then
  find_links=(--find-links "$PYSPARK_FIND_LINKS")
fi
"$venv/bin/python" -m pip install -q ${find_links[@]+"${find_links[@]}"} "pyspark==$version"
"$venv/bin/python" -c "import pyspark; print('$venv: pyspark', pyspark.__version__)"
if ! command -v java >/dev/null 2>&1; then
  echo "warning: java is not on PATH; PySpark needs Java 17 or 21 to run" >&2
fi
