#!/usr/bin/env bash
# Issue 6's GPU measurements in one run, for a session that is lent a GPU for a few minutes.
#
#   ALEXNET_COMMIT=<sha> OUT=/some/folder bash tools/gpu_checks.sh   # on the GPU machine
#   DEVICE=cpu PYTHON=.venv/bin/python OUT=/tmp/gc bash tools/gpu_checks.sh   # a CPU dry run
#
# Needs python3 with torch (CUDA), torchvision, triton, tqdm, PIL and tensorboard (the lent
# machines' image has them: the project's .venv does not travel), and pytorch/examples'
# imagenet/main.py at .bench/main.py, fetched separately and never committed: with the session's
# fetch tool, `git -C <mirror of pytorch/examples> show HEAD:imagenet/main.py > .bench/main.py`,
# `echo /.bench/ >> .git/info/exclude`, and name .bench in the device call's carry.
#
# Writes to $OUT: gpu_checks.log (everything), tests.txt, bench_lrn.txt, bench_layers.json (for
# book/results/gpu/layers_<gpu>.json), bench_pipeline.json (the pipeline's stages, for
# book/results/gpu/pipeline_<gpu>.json) and bench_train.json (the table's record, for
# book/results/gpu/bench_train_<gpu>.json; rewritten after every row). Each step has its own time
# limit and a failing step does not stop the others; the limits add up to under 10 minutes, one
# device call. Exits non-zero if a step failed. tests/test_tools.py runs the CPU dry run in CI.
set -u
OUT=${OUT:-runs/gpu-checks}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
EXAMPLES=${EXAMPLES:-.bench/main.py}
BENCH_TMP=${BENCH_TMP:-/tmp}  # where the generated JPEG folders and the bench's runs go
mkdir -p "$OUT"
# The lent machine gets the working tree without .git: pass the commit in (ALEXNET_COMMIT=...).
export ALEXNET_COMMIT=${ALEXNET_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/gpu_checks.log") 2>&1

if [ "$DEVICE" = cuda ]; then  # the real sizes
    IMAGES=7680 BATCH=256 WORKERS=16 LRN_BATCH=256 LRN_DTYPE=bfloat16 LIMIT=140 TRAIN_LIMIT=300 TRAIN_DEVICE=cuda:0 COMPILE=()
    STEP_SCALE=${STEP_SCALE:-1}
else  # a dry run: every step, tiny sizes (>= 21 batches for (a)'s lines; no bf16 LRN in torch on CPUs)
    IMAGES=192 BATCH=8 WORKERS=2 LRN_BATCH=4 LRN_DTYPE=float32 LIMIT=300 TRAIN_LIMIT=225 TRAIN_DEVICE=cpu COMPILE=(--no-compile)
    # The dry run checks that every step works, not how fast: a busy 2-core machine took twice
    # the pipeline step's 45 s, so every limit is four times the one written below (train: 900 s).
    STEP_SCALE=${STEP_SCALE:-4}
fi

failed=()
step() {  # step NAME SECONDS COMMAND...: run with a time limit, report its exit status and time
    local name=$1 limit=$(($2 * STEP_SCALE)) start=$SECONDS rc
    shift 2
    echo "=== $name (limit ${limit} s): $*"
    timeout -s INT -k 15 "$limit" "$@"
    rc=$?
    echo "=== $name: exit $rc after $((SECONDS - start)) s"
    [ $rc -eq 0 ] || failed+=("$name")
}

step env 15 bash -c "date -u; nvidia-smi -L 2>/dev/null; nproc; echo commit \$ALEXNET_COMMIT;
  $PY -c 'import torch, torchvision, triton; print(\"torch\", torch.__version__, \"torchvision\",
  torchvision.__version__, \"triton\", triton.__version__, \"cuda\", torch.cuda.is_available())'"

# The CUDA-only tests (skipped on CI): fused LRN, batched augmentation, towers, GPU pipeline.
# The lent machine has no nbval: the project's pytest options are dropped with -o addopts=.
step tests 90 bash -c "set -o pipefail; $PY -m pytest -q -o addopts= -p no:cacheprovider -k 'cuda or on_the_gpu or real_devices' \
  tests/test_lrn_triton.py tests/test_augment.py tests/test_towers.py tests/test_gpu_pipeline.py 2>&1 | tee '$OUT/tests.txt'"

# LRN: the size (batch 32, float32), then training's (batch 256, bf16, channels_last).
step lrn 80 bash -c "set -o pipefail; { $PY -m alexnet_lib.bench lrn --device $DEVICE;
  $PY -m alexnet_lib.bench lrn --device $DEVICE --shape $LRN_BATCH 96 55 55 --dtype $LRN_DTYPE \
    --channels-last --compile; } | tee '$OUT/bench_lrn.txt'"

# Where a training step's time goes on the GPU, layer by layer (training's batch, dtype, layout).
step layers 60 $PY -m alexnet_lib.bench layers --device $DEVICE --batch-size $LRN_BATCH \
    --dtype $LRN_DTYPE --channels-last --json "$OUT/bench_layers.json"

# Where the input pipeline's time goes: read, decode (one thread, then split over 4), resize,
# augment, on the 500x375 folder and its 256x256 copy. This step also writes both folders, which
# the train step reuses.
step pipeline 45 $PY -m alexnet_lib.bench pipeline --folder "$BENCH_TMP/bench-jpeg" --images $IMAGES \
    --batch-size $BATCH --workers $WORKERS --device $DEVICE --prepared --json "$OUT/bench_pipeline.json"

# Training throughput: (p) pipeline alone, (a) pytorch/examples, (b) ours, on the 500x375 folder
# and on its 256x256 copy, and (c) the model alone; torch.compile on, as the training default.
examples=()
[ -f "$EXAMPLES" ] && examples=(--examples "$EXAMPLES") || echo "no $EXAMPLES: (a) left out"
step train $TRAIN_LIMIT $PY -m alexnet_lib.bench train --folder "$BENCH_TMP/bench-jpeg" --images $IMAGES \
    --batch-size $BATCH --workers $WORKERS --device $DEVICE --pipeline-only --prepared "${examples[@]}" \
    --train-args "--pipeline gpu --stats-images 1000 --device $TRAIN_DEVICE" \
    --out "$BENCH_TMP/bench-runs" --timeout $LIMIT --json "$OUT/bench_train.json" "${COMPILE[@]}"

echo "=== done: $OUT; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
