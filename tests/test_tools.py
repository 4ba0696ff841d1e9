"""tools/gpu_checks.sh, the one-run GPU measurements, in its CPU dry run: every step must work,
since a session lent a GPU for minutes cannot afford to debug it there."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def test_gpu_checks_dry_run_runs_every_step(tmp_path):
    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
           "EXAMPLES": str(tmp_path / "no-examples.py"),  # pytorch/examples is never in the repo
           "BENCH_TMP": str(tmp_path)}
    proc = subprocess.run(["bash", "tools/gpu_checks.sh"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1800)  # ~100 s on an idle 2-core machine
    log = proc.stdout + proc.stderr
    steps = dict(re.findall(r"^=== (\w+): exit (\d+) after", log, flags=re.M))
    assert steps == {"env": "0", "tests": "0", "lrn": "0", "layers": "0", "pipeline": "0", "train": "0"}, \
        log[-6000:]
    assert proc.returncode == 0 and "failed: none" in log
    out = tmp_path / "out"
    train = json.loads((out / "bench_train.json").read_text())
    assert set(train["images_per_s"]) == {"p", "b", "c", "b256"} and "errors" not in train
    assert len(json.loads((out / "bench_layers.json").read_text())["layers"]) == 23
    stages = json.loads((out / "bench_pipeline.json").read_text())
    assert stages["images_per_s"].keys() == stages["images_per_s_prepared"].keys() == {
        "read", "decode", "decode_threads", "resize", "prepare"}
    assert "speedup:" in (out / "bench_lrn.txt").read_text()
    assert (out / "gpu_checks.log").stat().st_size > 0


def test_gpu_checks_training_plan_dry_run_runs_every_step(tmp_path):
    """PLAN=training: the ceiling's sweep and profile, torchrun at world size 1 (gloo here, nccl
    on the GPU) and the full-size run, then the runs record the training chapter reads."""
    env = {**os.environ, "PLAN": "training", "DEVICE": "cpu", "PYTHON": sys.executable,
           "OUT": str(tmp_path / "out"), "BENCH_TMP": str(tmp_path)}
    proc = subprocess.run(["bash", "tools/gpu_checks.sh"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1200)  # ~200 s on a busy 2-core machine
    log = proc.stdout + proc.stderr
    steps = dict(re.findall(r"^=== (\w+): exit (\d+) after", log, flags=re.M))
    assert steps == {"env": "0", "ceiling": "0", "data": "0", "nccl": "0", "fullsize": "0",
                     "record": "0"}, log[-6000:]
    assert proc.returncode == 0 and "failed: none" in log
    out = tmp_path / "out"
    ceiling = json.loads((out / "bench_ceiling.json").read_text())
    assert len(ceiling["rows"]) == 2 and ceiling["profile"]["top"] and ceiling["commit"]
    assert "1 process (DDP, gloo backend)" in (out / "nccl" / "log.txt").read_text()
    runs = json.loads((out / "train_fullsize.json").read_text())["runs"]
    assert len(runs) == 1 and len(runs[0]["epochs"]) == 2
    assert (out / "fullsize" / "metrics.csv").is_file() and not list(out.rglob("*.pt"))


def test_gpu_checks_refuses_an_unknown_plan(tmp_path):
    env = {**os.environ, "PLAN": "everything", "OUT": str(tmp_path)}
    proc = subprocess.run(["bash", "tools/gpu_checks.sh"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "PLAN must be throughput or training" in proc.stdout


def test_gpu_evidence_script_names_only_flags_the_commands_accept(tmp_path):
    """tools/gpu_evidence.sh in its dry run: each step's arguments go through the real command
    line (only the experiment itself is replaced), so a flag the command does not accept fails
    here rather than on a lent GPU."""
    env = dict(os.environ, DRY="1", PYTHON=sys.executable, OUT=str(tmp_path / "out"),
               WORK=str(tmp_path / "work"))
    proc = subprocess.run(["bash", "tools/gpu_evidence.sh"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logs = sorted((tmp_path / "work" / "logs").glob("*.log"))
    assert len(logs) == 7, proc.stdout
    for log in logs:
        assert "parsed:" in log.read_text(), (log.name, log.read_text())
    assert (tmp_path / "out" / "evidence.tgz").exists()
