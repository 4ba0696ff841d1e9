#!/usr/bin/env bash
# Issue 17's GPU measurements, one plan per device call of under 10 minutes, for a session that is
# lent a GPU for a few minutes.
#
#   ALEXNET_COMMIT=<sha> OUT=/some/folder bash tools/gpu_checks.sh               # on the GPU machine
#   PLAN=training ALEXNET_COMMIT=<sha> OUT=/some/folder bash tools/gpu_checks.sh # the other plan
#   DEVICE=cpu PYTHON=.venv/bin/python OUT=/tmp/gc bash tools/gpu_checks.sh      # a CPU dry run
#
# PLAN=throughput (the default): env, the CUDA-only tests, LRN, layers, the input pipeline's
# stages and the training throughput table (p, a, b, c): about 590 s of limits.
# PLAN=training: env, the model's ceiling under each lever with the profiler's top kernels
# (bench ceiling), torchrun with the nccl backend at world size 1, and the full-size default
# recipe on a generated 256x256 folder until its time limit, long enough for the plateau rule to
# drop the learning rate: about 550 s of limits. One plan fits one call; a session with 15 minutes
# of device time runs one of them.
#
# Needs python3 with torch (CUDA), torchvision, triton, tqdm, PIL and tensorboard (the lent
# machines' image has them: the project's .venv does not travel), and pytorch/examples'
# imagenet/main.py at .bench/main.py, fetched separately and never committed: with the session's
# fetch tool, `git -C <mirror of pytorch/examples> show HEAD:imagenet/main.py > .bench/main.py`,
# `echo /.bench/ >> .git/info/exclude`, and name .bench in the device call's carry.
#
# Writes to $OUT: gpu_checks.log (everything); throughput: tests.txt, bench_lrn.txt,
# bench_layers.json (for book/results/gpu/layers_<gpu>.json), bench_pipeline.json (for
# book/results/gpu/pipeline_<gpu>.json) and bench_train.json (for
# book/results/gpu/bench_train_<gpu>.json; rewritten after every row); training:
# bench_ceiling.json (for book/results/gpu/ceiling_<gpu>.json), nccl/ and fullsize/ (each run
# folder's log, metrics and config, no checkpoints) and train_fullsize.json (the runs record, for
# book/results/gpu/train_fullsize_<gpu>.json). Each step has its own time limit and a failing
# step does not stop the others. Exits non-zero if a step failed. tests/test_tools.py runs the CPU
# dry run of both plans in CI.
set -u
OUT=${OUT:-runs/gpu-checks}
PLAN=${PLAN:-throughput}
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
    CEILING=() FULL_IMAGES=25600 FULL_LIMIT=210 FULL_ARGS=()
    STEP_SCALE=${STEP_SCALE:-1}
else  # a dry run: every step, tiny sizes (>= 21 batches for (a)'s lines; no bf16 LRN in torch on CPUs)
    IMAGES=192 BATCH=8 WORKERS=2 LRN_BATCH=4 LRN_DTYPE=float32 LIMIT=300 TRAIN_LIMIT=225 TRAIN_DEVICE=cpu COMPILE=(--no-compile)
    # the training plan's dry run: the ceiling eager at batch 2, a quarter-width net for 2 epochs
    CEILING=(--batch-size 2 --steps 2) FULL_IMAGES=40 FULL_LIMIT=60
    FULL_ARGS=(--width 0.25 --hidden 256 --epochs 2 --batch-size 8 --no-compile)
    # The dry run checks that every step works, not how fast: a busy 2-core machine took twice
    # the pipeline step's 45 s, so every limit is four times the one written below (train: 900 s).
    STEP_SCALE=${STEP_SCALE:-4}
fi

failed=()
step() {  # step NAME SECONDS COMMAND...: run with a time limit, report its exit status and time
    # (OK_CODES="0 124" step ...: a step that is meant to run until its limit stops, as fullsize)
    local name=$1 limit=$(($2 * STEP_SCALE)) start=$SECONDS rc
    shift 2
    echo "=== $name (limit ${limit} s): $*"
    timeout -s INT -k 15 "$limit" "$@"
    rc=$?
    echo "=== $name: exit $rc after $((SECONDS - start)) s"
    [[ " ${OK_CODES:-0} " == *" $rc "* ]] || failed+=("$name")
}

case $PLAN in throughput|training) ;; *) echo "PLAN must be throughput or training, got '$PLAN'"; exit 2;; esac

step env 15 bash -c "date -u; nvidia-smi -L 2>/dev/null; nproc; echo commit \$ALEXNET_COMMIT;
  $PY -c 'import torch, torchvision, triton; print(\"torch\", torch.__version__, \"torchvision\",
  torchvision.__version__, \"triton\", triton.__version__, \"cuda\", torch.cuda.is_available())'"


if [ "$PLAN" = training ]; then
# The model's training step alone under each lever, then the profiler's top kernels of the fastest.
step ceiling 200 $PY -m alexnet_lib.bench ceiling --device $DEVICE --budget 130 "${CEILING[@]}" \
    --json "$OUT/bench_ceiling.json"

# A generated folder at 256x256 (the paper's stored size; 10 classes), for the next two steps.
FULL_DATA="$BENCH_TMP/fullsize-jpeg"
step data 45 $PY -c "from pathlib import Path; from alexnet_lib.bench import make_jpeg_folder
make_jpeg_folder(Path('$FULL_DATA'), $FULL_IMAGES, (256, 256))"

# torchrun with the nccl backend (gloo off a GPU) at world size 1: the distributed path's steps.
step nccl 60 $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m alexnet_lib.train \
    --data "$FULL_DATA" --pipeline gpu --device $DEVICE --epochs 1 --limit-steps 20 --no-progress \
    --stats-images 1000 "${FULL_ARGS[@]}" --out "$BENCH_TMP/nccl-run"

# The default recipe (the paper's init, plateau schedule) at full size until the limit: SIGINT
# then saves and stops cleanly, and the epochs so far are in metrics.csv.
OK_CODES="0 124" step fullsize $FULL_LIMIT $PY -m alexnet_lib.train --data "$FULL_DATA" --pipeline gpu --device $DEVICE \
    --epochs 200 --no-progress --stats-images 1000 "${FULL_ARGS[@]}" --out "$BENCH_TMP/fullsize-run"
for run in nccl fullsize; do
    mkdir -p "$OUT/$run"
    cp "$BENCH_TMP/$run-run/"{log.txt,metrics.csv,config.json,env.json,final.json,throughput.json} \
        "$OUT/$run/" 2>/dev/null
done
step record 20 $PY -m alexnet_lib.runs "$BENCH_TMP/fullsize-run" --out "$OUT/train_fullsize.json" \
    --classes 10 --data "10 generated classes (alexnet_lib.bench.make_jpeg_folder, seed 0), 256x256 JPEGs, $FULL_IMAGES training images"
else
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

fi

echo "=== done: $OUT; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
