#!/usr/bin/env bash
# Issue 13's evidence runs on a lent GPU, in one device call of under 10 minutes.
#
#   ALEXNET_COMMIT=<sha> OUT=/some/folder bash tools/gpu_evidence.sh   # on the GPU machine
#   DRY=1 PYTHON=.venv/bin/python OUT=/tmp/ge bash tools/gpu_evidence.sh   # checks the commands
#
# Runs, each under its own time limit, claims 4-5 (augment_evidence) and claims 3, 6, 7, 8
# (alexnet_evidence) with --device cuda. Each finished run is saved as a part the moment it ends,
# so a step stopped at its limit loses only the run in progress, and the next call resumes: the
# parts of earlier calls are read from book/results/evidence/$GPU/ (commit them there). Writes
# $OUT/gpu_evidence.log and $OUT/evidence.tgz (every part and record; unpack it into
# book/results/evidence/$GPU/ here). The device's python3 has torch and scikit-image; the
# project's .venv does not travel.
set -u
OUT=${OUT:-runs/gpu-evidence}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
GPU=${GPU:-h200}  # the folder of this GPU's records: GPU floats are not the CPU's
WORK=${WORK:-/tmp/gpu-evidence}
SEEDS=${SEEDS:-0,1,2,3,4}
mkdir -p "$OUT" "$WORK"
export ALEXNET_COMMIT=${ALEXNET_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/gpu_evidence.log") 2>&1

if [ -d "book/results/evidence/$GPU" ]; then cp -r "book/results/evidence/$GPU/." "$WORK/"; fi
failed=0
experiment() {  # experiment LIMIT_SECONDS NAME ARGS...: run it, stop it at the limit, go on either way
    local limit=$1; shift
    echo "== $(date -u +%H:%M:%S) $* (limit ${limit} s)"
    if [ "${DRY:-0}" = 1 ]; then  # parse the arguments exactly as the real run would, then stop
        "$PY" -c 'import sys
from alexnet_lib.experiments import __main__ as m
m.DELEGATED[sys.argv[1]].evidence = lambda *a, **k: print("parsed:", sys.argv[1], k.get("device"))
sys.exit(m.main(sys.argv[1:]))' "$@" || { echo "== exit $?: $*"; failed=1; }
        return
    fi
    timeout --signal=TERM --kill-after=10 "$limit" "$PY" -m alexnet_lib.experiments "$@" \
        || { echo "== exit $?: $*"; failed=1; }
}
if [ "${DRY:-0}" != 1 ]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; fi
experiment 150 augment_evidence --seeds "$SEEDS" --device "$DEVICE" --out "$WORK"
experiment 390 alexnet_evidence --claim all --seeds "$SEEDS" --device "$DEVICE" --workers 14 \
    --out "$WORK"
tar czf "$OUT/evidence.tgz" -C "$WORK" .
echo "== $(date -u +%H:%M:%S) done; parts and records in $OUT/evidence.tgz"
exit $failed
