#!/usr/bin/env bash
# Issue 13's evidence runs on a lent GPU, in one device call of under 10 minutes.
#
#   ALEXNET_COMMIT=<sha> OUT=/some/folder bash tools/gpu_evidence.sh   # on the GPU machine
#   DRY=1 PYTHON=.venv/bin/python OUT=/tmp/ge bash tools/gpu_evidence.sh   # checks the commands
#
# Runs claims 2 (lrn_evidence --protocol 60-epochs), 4-5 (augment_evidence) and 3, 6, 7, 8
# (alexnet_evidence) with --device cuda, as seven processes side by side on the one GPU (each net
# is too small to fill it), all stopped at one deadline. Each finished run is saved as a part the
# moment it ends, so a stopped job loses only the run in progress, and the next call resumes: the
# parts of earlier calls are read from book/results/evidence/$GPU/ (commit them there). Writes
# $OUT/gpu_evidence.log and $OUT/evidence.tgz (every part, record and job log; unpack it into
# book/results/evidence/$GPU/ here, logs/ apart). The device's python3 has torch and scikit-image; the
# project's .venv does not travel.
set -u
OUT=${OUT:-runs/gpu-evidence}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
GPU=${GPU:-h200}  # the folder of this GPU's records: GPU floats are not the CPU's
WORK=${WORK:-/tmp/gpu-evidence}
SEEDS=${SEEDS:-0,1,2,3,4}
BUDGET=${BUDGET:-530}  # seconds until every job is stopped (one device call is at most 600)
mkdir -p "$OUT" "$WORK/logs"
export ALEXNET_COMMIT=${ALEXNET_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/gpu_evidence.log") 2>&1

if [ -d "book/results/evidence/$GPU" ]; then cp -r "book/results/evidence/$GPU/." "$WORK/"; fi
failed=0
deadline=$((SECONDS + BUDGET))
job() {  # job NAME EXPERIMENT ARGS...: start it in the background, stopped at the deadline
    local name=$1; shift
    echo "== $(date -u +%H:%M:%S) start $name: $*"
    if [ "${DRY:-0}" = 1 ]; then  # parse the arguments exactly as the real run would, then stop
        "$PY" -c 'import sys
from alexnet_lib.experiments import __main__ as m
m.DELEGATED[sys.argv[1]].evidence = lambda *a, **k: print("parsed:", sys.argv[1], k.get("device"))
sys.exit(m.main(sys.argv[1:]))' "$@" > "$WORK/logs/$name.log" 2>&1 &
    else
        timeout --signal=TERM --kill-after=10 $((deadline - SECONDS)) \
            "$PY" -m alexnet_lib.experiments "$@" > "$WORK/logs/$name.log" 2>&1 &
    fi
}
if [ "${DRY:-0}" != 1 ]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; fi
common=(--seeds "$SEEDS" --device "$DEVICE" --out "$WORK")
job alexnet-3-6 alexnet_evidence --claim 3 --claim 6 --workers 12 "${common[@]}"
for arm in none lrn batchnorm; do
    job "lrn-$arm" lrn_evidence --protocol 60-epochs --arm "$arm" "${common[@]}"
done
job augment-none augment_evidence --arm none "${common[@]}"
job augment-flips augment_evidence --arm crops+flips --arm crops+flips+pca --arm crops+flips+pca-sqrt \
    "${common[@]}"
# Claims 7 and 8 (their record's parts folder is its own, alexnet-claims-7-8.parts: it tunes
# the paper's net's learning rate again, as the 3-6 job does).
job alexnet-7-8 alexnet_evidence --claim 7 --claim 8 --workers 4 "${common[@]}"
for pid in $(jobs -p); do wait "$pid" || failed=1; done
tail -n 3 "$WORK"/logs/*.log
tar czf "$OUT/evidence.tgz" -C "$WORK" .
echo "== $(date -u +%H:%M:%S) done; parts, records and logs in $OUT/evidence.tgz"
exit $failed
