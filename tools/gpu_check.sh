#!/usr/bin/env bash
# `make gpu-check`: one script for a machine with an NVIDIA GPU and no network access.
# Builds in place (default arch list) with the system python's torch, runs the whole test suite
# (CUDA tests included), a CUDA workload under compute-sanitizer memcheck and racecheck, the GPU
# benchmarks, and prints a summary table.  Wheels for missing pure-Python peers (kornia, roma) are
# taken from .whl/ if present.  Keep it under 6 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=${OUT:-build/gpu-check}
mkdir -p "$LOG"
export PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16}
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/geomaug-site .whl/*.whl \
    && export PYTHONPATH=/tmp/geomaug-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
declare -a NAMES STATUS TIMES
step() {  # step NAME COMMAND...: run, log, record status and seconds
  local name=$1; shift
  echo; echo "===== $name: $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$LOG/$name.log"
  local rc=${PIPESTATUS[0]}
  NAMES+=("$name"); STATUS+=("$([ $rc -eq 0 ] && echo ok || echo "FAIL($rc)")"); TIMES+=($((SECONDS - t0)))
}
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
step build $PY setup.py -q build_ext --inplace
step info $PY -m geomaug info
step tests $PY -m pytest -q -p no:cacheprovider -x
step cuda-tests $PY -m pytest -q -p no:cacheprovider -m cuda
step memcheck "$SANITIZER" --tool memcheck --error-exitcode 1 $PY tools/sanitizer_workload.py
step racecheck "$SANITIZER" --tool racecheck --error-exitcode 1 $PY tools/sanitizer_workload.py
step bench $PY -m benchmarks --device cuda --out "$LOG"
echo; echo "===== gpu-check summary ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
printf '%-12s %-10s %6s\n' step status seconds
fail=0
for i in "${!NAMES[@]}"; do
  printf '%-12s %-10s %6s\n' "${NAMES[$i]}" "${STATUS[$i]}" "${TIMES[$i]}"
  [ "${STATUS[$i]}" = ok ] || fail=1
done
grep -h -E "passed|failed" "$LOG"/tests.log "$LOG"/cuda-tests.log | tail -2
grep -h "ERROR SUMMARY" "$LOG"/memcheck.log "$LOG"/racecheck.log 2>/dev/null
exit $fail
