"""The training command on the CPU: a short run, kill and resume, signals, DDP, the two-column
split, evaluation and every bad input with its message.

Runs use a CPU-sized AlexNet (a quarter of the kernels, 128 hidden units) on the built-in
dataset written as an ImageNet-style JPEG folder at 72x72 px with 64x64 crops, so that a whole
epoch takes a fraction of a second and the real file-reading path is exercised.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from alexnet_lib.checkpoint import CheckpointError, load_checkpoint
from alexnet_lib.data import write_image_folder
from alexnet_lib.train import DistInfo, LRSchedule, Trainer, build_model, build_parser, main, resolve_config

REPO = Path(__file__).resolve().parents[1]
TINY = ["--image-size", "72", "--crop-size", "64", "--width", "0.25", "--hidden", "128",
        "--batch-size", "10", "--workers", "1", "--no-progress", "--init", "kaiming",
        "--input-scale", "4", "--dropout", "0"]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """50 training and 30 validation JPEGs at 72x72, plus one truncated training file."""
    root = tmp_path_factory.mktemp("shapes")
    write_image_folder(root, size=72, train_per_class=5, val_per_class=3, seed=0)
    good = next((root / "train" / "disc").iterdir())
    (root / "train" / "disc" / "zz_truncated.JPEG").write_bytes(good.read_bytes()[:300])
    return root


@pytest.fixture(scope="module")
def stats(folder, tmp_path_factory) -> str:
    """The statistics of ``folder``, computed once and shared (each run would redo it)."""
    out = tmp_path_factory.mktemp("stats-run")
    assert main(["--data", str(folder), *TINY, "--epochs", "1", "--limit-steps", "1", "--no-eval",
                 "--schedule", "step", "--out", str(out / "r")]) == 0
    return str(out / "r" / "stats.npz")


@pytest.fixture(scope="module")
def short_run(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["--data", str(folder), *TINY, "--epochs", "20", "--lr", "0.005", "--schedule", "step",
                 "--out", str(out)]) == 0
    return out


def read_metrics(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- a short run


def test_short_run_loss_falls_and_the_run_folder_holds_everything(short_run):
    rows = read_metrics(short_run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 21))
    losses = [float(r["train_loss"]) for r in rows]
    # Chance is ln(10) = 2.30; the 50 images begin to be learned by heart within 20 epochs.
    first, last = sum(losses[:2]) / 2, sum(losses[-4:]) / 4
    assert last < first - 0.25 and last < 2.2, losses
    for name in ("config.json", "env.json", "metrics.csv", "log.txt", "stats.npz", "last.pt",
                 "best.pt", "final.json", "throughput.json"):
        assert (short_run / name).is_file(), name
    assert list((short_run / "tensorboard").glob("events.out.tfevents.*"))
    config = json.loads((short_run / "config.json").read_text())
    assert config["lr"] == 0.005 and config["momentum"] == 0.9 and config["weight_decay"] == 5e-4
    env = json.loads((short_run / "env.json").read_text())
    assert env["torch"] == torch.__version__ and "git_commit" in env and "--epochs 20" in env["command"]
    last = torch.load(short_run / "last.pt", weights_only=True)
    assert last["epoch"] == 20 and last["step"] == 0
    assert set(last["rng"][0]) == {"torch", "cuda", "numpy", "python"}
    assert {"model", "optimizer", "schedule", "scaler", "statistics", "config"} <= set(last)
    final = json.loads((short_run / "final.json").read_text())
    assert [r["crops"] for r in final["results"]] == ["centre", "10-crop"]
    assert json.loads((short_run / "throughput.json").read_text())["train_images_per_s"] > 0


def test_a_corrupt_image_is_skipped_and_counted(short_run, folder):
    rows = read_metrics(short_run)
    assert all(int(r["skipped_images"]) == 1 for r in rows)  # once per epoch, run not stopped
    bad = folder / "train" / "disc" / "zz_truncated.JPEG"
    assert (short_run / "skipped.txt").read_text().count(str(bad)) == 1
    assert "warning: skipped an image that cannot be decoded" in (short_run / "log.txt").read_text()


def test_evaluate_prints_centre_and_ten_crop_errors(short_run, capsys):
    assert main(["--evaluate", str(short_run / "best.pt"), "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "centre crop" in out and "10 crops" in out and "top-5 error" in out
    final = json.loads((short_run / "final.json").read_text())["results"][0]
    assert f"{100 * final['top1_err']:.2f}%" in out  # the same number as at the end of training


def test_evaluate_centre_crop_is_the_hand_written_crops():
    """evaluate() crops with torchvision's v2 center_crop: the same patches as the library's own
    center_crop it replaced (odd and even margins, channels_last too), so the same numbers."""
    from torch import nn

    from alexnet_lib.augment import center_crop
    from alexnet_lib.evaluate import evaluate, topk_correct

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 7))
    for h, w in ((40, 40), (41, 40), (43, 45)):
        images, labels = torch.randn(6, 3, h, w), torch.randint(0, 7, (6,))
        for x in (images, images.contiguous(memory_format=torch.channels_last)):
            got = evaluate(model, [(x, labels)], 32)
            with torch.no_grad():
                scores = model(center_crop(images, 32).contiguous())
            top1, top5 = topk_correct(scores, labels)
            loss = nn.functional.cross_entropy(scores, labels).item()
            assert got.top1_err == 1 - top1.item() / 6 and got.top5_err == 1 - top5.item() / 6
            assert got.loss == pytest.approx(loss, rel=1e-6), (h, w)


# --------------------------------------------------------------------------- kill, resume, signals


def _popen(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "alexnet_lib.train", *args], env=ENV, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(out: Path, proc: subprocess.Popen, min_step: int, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (out / "last.pt").is_file():
            state = load_checkpoint(out / "last.pt")  # atomic: always loads whole
            if state["epoch"] == 0 and state["step"] >= min_step:
                return state
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no mid-epoch checkpoint appeared")


def test_sigkill_mid_epoch_then_resume_continues_from_the_saved_state(folder, stats, tmp_path):
    out = tmp_path / "r"
    args = ["--data", str(folder), *TINY, "--batch-size", "4", "--epochs", "2", "--stats", stats,
            "--schedule", "step", "--log-every", "1", "--checkpoint-minutes", "0.00001",
            "--no-ten-crop", "--out", str(out)]
    proc = _popen(args)
    _wait_for_checkpoint(out, proc, min_step=4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = load_checkpoint(out / "last.pt")
    assert saved["epoch"] == 0 and 4 <= saved["step"] < 13  # killed in mid-epoch

    # Rebuilt from the checkpoint, the trainer's state is the saved state.
    parser = build_parser()
    cfg, ckpt = resolve_config(parser.parse_args(["--out", str(out), "--resume", "--workers", "0"]),
                               parser)
    trainer = Trainer(cfg, checkpoint=ckpt)
    state = trainer.state_dict()
    assert (state["epoch"], state["step"]) == (saved["epoch"], saved["step"])
    for name, tensor in saved["model"].items():
        assert torch.equal(state["model"][name], tensor), name
    for k, buf in saved["optimizer"]["state"].items():
        assert torch.equal(state["optimizer"]["state"][k]["momentum_buffer"], buf["momentum_buffer"])
    assert state["optimizer"]["param_groups"] == saved["optimizer"]["param_groups"]
    assert state["schedule"] == saved["schedule"] and state["history"] == saved["history"]
    assert torch.equal(state["progress_sums"], saved["progress_sums"])
    rng, saved_rng = state["rng"][0], saved["rng"][0]
    assert torch.equal(rng["torch"], saved_rng["torch"])
    assert torch.equal(rng["numpy"]["keys"], saved_rng["numpy"]["keys"])
    assert torch.equal(rng["python"]["state"], saved_rng["python"]["state"])
    del trainer

    # And the command continues the run to its end.
    done = subprocess.run([sys.executable, "-m", "alexnet_lib.train", "--out", str(out), "--resume",
                           "--checkpoint-minutes", "0"],  # a runtime setting: may change
                          env=ENV, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"at epoch 1, step {saved['step']}" in done.stdout
    assert [int(r["epoch"]) for r in read_metrics(out)] == [1, 2]
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    assert not list(out.glob(".tmp-*"))  # a temp file of the killed run was cleaned up


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_save_and_exit_cleanly(folder, stats, tmp_path, signum, code):
    out = tmp_path / "r"
    proc = _popen(["--data", str(folder), *TINY, "--batch-size", "4", "--epochs", "3",
                   "--stats", stats, "--log-every", "1", "--checkpoint-minutes", "0.00001",
                   "--out", str(out)])
    _wait_for_checkpoint(out, proc, min_step=2)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Continue with: python -m alexnet_lib.train" in stderr and "Traceback" not in stderr
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] < 3 and (state["epoch"], state["step"]) != (0, 0)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(folder, stats, tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["--data", str(folder), *TINY, "--stats", stats, "--lr", "1e4", "--epochs", "1",
                 "--log-every", "1", "--checkpoint-minutes", "0.00001", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "loss became non-finite" in err and "last good checkpoint" in err
    kept = load_checkpoint(out / "last.pt")
    assert all(torch.isfinite(t).all() for t in kept["model"].values())
    assert f"step {kept['step']}" in err


# --------------------------------------------------------------------------- scale


def test_torchrun_two_gloo_processes_end_with_equal_parameters(folder, stats, tmp_path):
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "alexnet_lib.train", "--data", str(folder), *TINY, "--stats", stats,
           "--epochs", "2", "--device", "cpu", "--schedule", "step", "--no-ten-crop",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        # A hang: ask every process of the run for its threads' stacks (the training command
        # registers SIGUSR1 with faulthandler), then stop them and show what they were doing.
        os.killpg(proc.pid, signal.SIGUSR1)
        time.sleep(3)
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun did not finish in 180 s; stacks:\n{stderr[-12000:]}\n{stdout[-2000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert "2 processes (DDP, gloo backend)" in log
    assert "parameters identical on all 2 processes" in log
    rows = read_metrics(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(int(r["skipped_images"]) == 1 for r in rows)  # counted over both ranks
    assert load_checkpoint(out / "last.pt")["config"]["batch_size"] == 10  # 5 per process


def test_torchrun_with_one_process_takes_the_distributed_path(folder, stats, tmp_path):
    """One GPU checks the NCCL path under torchrun at world size 1 (tools/gpu_checks.sh): the
    process group, DDP and the collectives, not the single-process shortcut."""
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
           "-m", "alexnet_lib.train", "--data", str(folder), *TINY, "--stats", stats,
           "--epochs", "1", "--device", "cpu", "--no-ten-crop", "--out", str(out)]
    done = subprocess.run(cmd, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert "1 process (DDP, gloo backend)" in log and "parameters identical on all 1 process" in log
    assert len(load_checkpoint(out / "last.pt")["rng"]) == 1


def test_sigterm_under_torchrun_saves_a_complete_checkpoint_at_the_next_step(folder, stats, tmp_path):
    """torchrun forwards SIGTERM to every worker and sends SIGKILL 30 s later (its default
    --shutdown-timeout): the ranks must agree to stop at the next step, not at the next
    --log-every step or the end of the epoch, and write a complete last.pt in time."""
    # A long epoch: the 50 training images 40 times over, one image per rank and step (1000 steps).
    big = tmp_path / "big"
    for src in (folder / "train").iterdir():
        (big / "train" / src.name).mkdir(parents=True)
        for copy in range(40):
            for f in src.glob("*.JPEG"):
                if "truncated" not in f.name:
                    os.link(f, big / "train" / src.name / f"{copy:02d}_{f.name}")
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "alexnet_lib.train", "--data", str(big), *TINY, "--stats", stats,
           "--batch-size", "2", "--workers", "0", "--epochs", "1", "--device", "cpu", "--no-eval",
           "--log-every", "100000", "--checkpoint-minutes", "0", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ((out / "log.txt").is_file() and "training alexnet" in (out / "log.txt").read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)  # into the epoch's steps
        assert not (out / "last.pt").exists()  # nothing saved yet (no timed checkpoints)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # to torchrun, which forwards it to both workers
        saved = None
        while saved is None and time.monotonic() - sent < 60:
            if (out / "last.pt").is_file():
                saved = time.monotonic() - sent
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert saved is not None, stderr[-3000:]
    print(f"SIGTERM to torchrun -> complete last.pt in {saved:.2f} s")  # shown with pytest -s
    state = load_checkpoint(out / "last.pt")  # complete (written to a temp file, then renamed)
    assert state["epoch"] == 0 and 0 < state["step"] < 1000, state["step"]  # in mid-epoch
    assert len(state["rng"]) == 2  # both ranks' random-number states
    from alexnet_lib import AlexNet
    AlexNet(**state["model_config"]).load_state_dict(state["model"])
    log = (out / "log.txt").read_text()
    assert "stopped by SIGTERM" in log, stderr[-3000:]
    # The only traceback is torchrun's own report of the signal it forwarded, none a worker's.
    assert all("SignalException" in t for t in stderr.split("Traceback")[1:]), stderr[-3000:]
    # The stop came within a step or two, not at the end of the 1000-step epoch; the bound leaves
    # room for a slow, shared machine (the save of this tiny net takes milliseconds).
    assert saved < 10, (saved, state["step"])


def test_model_parallel_on_two_cpu_devices_matches_the_single_device_run(folder, stats, tmp_path):
    # Both runs in float64 (the pipeline's ToTensor and the net follow torch's default dtype).
    # In float32 the grouped convs and the towers' half convs round differently (~1e-6 from conv2
    # on), and where a max-pool window holds two values closer than that (one pool5 window of
    # one stripes image in the first batch here, 0.4945132 vs 0.4945130) the two runs route that
    # unit's gradient to different places: a legitimate, O(1) change of its share of the conv
    # gradients (conv5..conv1 off by ~1% after one step, 4.6% after four; the fc layers above
    # pool5 untouched), present or not by the chance of the batch, the seed and the CPU's kernels.
    # In float64 such a near tie would need a gap below ~1e-15, so the two runs agree to ~1e-15
    # and a real model-parallel bug (weights, gradients, optimizer, data) shows at full size.
    common = ["--data", str(folder), *TINY, "--stats", stats, "--epochs", "1", "--limit-steps", "4",
              "--schedule", "step", "--no-eval", "--workers", "0"]
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert main([*common, "--out", str(tmp_path / "one")]) == 0
        assert main([*common, "--model-parallel", "--devices", "cpu,cpu",
                     "--out", str(tmp_path / "two")]) == 0
        cfg = load_checkpoint(tmp_path / "one" / "last.pt")["config"]
        torch.manual_seed(cfg["seed"])
        initial = build_model(cfg, 10).state_dict()
    finally:
        torch.set_default_dtype(dtype)
    one = load_checkpoint(tmp_path / "one" / "last.pt")["model"]
    two = load_checkpoint(tmp_path / "two" / "last.pt")["model"]
    assert one.keys() == two.keys()
    for name in one:
        assert one[name].dtype == two[name].dtype == torch.float64, name
        assert torch.allclose(one[name], two[name], rtol=1e-9, atol=1e-12), name
    assert not torch.allclose(initial["features.conv1.weight"], one["features.conv1.weight"])
    assert "model-parallel on cpu,cpu" in (tmp_path / "two" / "log.txt").read_text()


# --------------------------------------------------------------------------- bad inputs


def test_no_data_says_how_to_get_imagenet_and_how_to_run_the_smoke_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path / "empty"))
    assert main(["--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no ImageNet folder found" in err and "data/README.md" in err
    assert "python -m alexnet_lib.train --dataset builtin" in err
    assert "alexnet_lib.data.prepare" in err


def test_nonexistent_data_exits_non_zero_naming_the_path():
    proc = subprocess.run([sys.executable, "-m", "alexnet_lib.train", "--data", "/nonexistent"],
                          env=ENV, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "/nonexistent" in proc.stderr and "alexnet_lib.data.prepare" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrong_layout_and_empty_class_are_errors_before_training(folder, tmp_path, capsys):
    flat = tmp_path / "flat"
    shutil.copytree(folder / "train", flat / "train")
    (flat / "val").mkdir()
    for f in list((folder / "val").glob("*/*.JPEG"))[:3]:
        shutil.copy(f, flat / "val" / f.name)  # the official val archive unpacks flat
    assert main(["--data", str(flat), *TINY, "--out", str(tmp_path / "r1")]) == 2
    assert "no class folders in" in capsys.readouterr().err

    empty = tmp_path / "empty"
    shutil.copytree(folder, empty)
    shutil.rmtree(empty / "train" / "star")
    (empty / "train" / "star").mkdir()
    assert main(["--data", str(empty), *TINY, "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "empty class folder" in err and "star" in err
    assert not (tmp_path / "r2" / "last.pt").exists()


@pytest.mark.parametrize("flags, message", [
    (["--dataset", "builtin", "--data", "x"], "--data and --dataset builtin exclude each other"),
    (["--dataset", "builtin", "--crop-size", "300"], "--crop-size 300 is larger than --image-size 256"),
    (["--dataset", "builtin", "--model-parallel", "--columns", "1"], "needs --arch alexnet, --columns 2"),
    (["--dataset", "builtin", "--model-parallel", "--remove", "conv4"], "all five conv layers"),
    (["--dataset", "builtin", "--arch", "torchvision", "--remove", "conv3"], "--remove is a switch"),
    (["--dataset", "builtin", "--remove", "conv2"], "invalid choice"),
    (["--dataset", "builtin", "--arch", "torchvision", "--width", "0.5"], "--width is a switch"),
    (["--dataset", "builtin", "--no-eval", "--ten-crop"], "--ten-crop is a test on the validation set"),
    (["--dataset", "builtin", "--lr", "-1"], "must be a positive number"),
    (["--dataset", "builtin", "--dropout", "1.5"], "must be in [0, 1)"),
    (["--dataset", "builtin", "--device", "cuda:7"], "CUDA is not available"),
    (["--resume"], "--resume needs --out"),
])
def test_impossible_flag_combinations_are_rejected(flags, message, capsys):
    if "cuda:7" in flags and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_resume_guards(short_run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "nothing"), "--resume"])
    assert "nothing to resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # never overwrite a run by accident
        main(["--dataset", "builtin", "--out", str(short_run)])
    assert "already holds a run" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a resumed run keeps its recipe
        main(["--out", str(short_run), "--resume", "--lr", "0.1"])
    assert "--lr 0.1 differs from the run being resumed (0.005)" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "last.pt").write_bytes(b"garbage")
    with pytest.raises(SystemExit):
        main(["--out", str(broken), "--resume"])
    assert "cannot load checkpoint" in capsys.readouterr().err


def test_resume_with_another_number_of_processes_is_refused(stats, tmp_path, capsys):
    """Each process continues its own RNG stream and a mid-epoch checkpoint counts its batches per
    process: a checkpoint of N processes resumes with N processes only, and says so."""
    one = tmp_path / "one"  # the 1-process run of the `stats` fixture, copied
    one.mkdir()
    shutil.copy(Path(stats).parent / "last.pt", one / "last.pt")
    two = tmp_path / "two"  # the same, as if saved by 2 processes
    two.mkdir()
    state = torch.load(one / "last.pt", weights_only=True)
    state["rng"] = [state["rng"][0], state["rng"][0]]
    torch.save(state, two / "last.pt")
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(two), "--resume", "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "was saved by 2 processes" in err and "Resume with 2 processes" in err, err
    parser = build_parser()
    with pytest.raises(SystemExit):
        resolve_config(parser.parse_args(["--out", str(one), "--resume"]), parser,
                       DistInfo(rank=0, world_size=2, local_rank=0, local_world_size=2))
    assert "was saved by 1 process" in capsys.readouterr().err
    cfg, checkpoint = resolve_config(parser.parse_args(["--out", str(one), "--resume"]), parser,
                                     DistInfo())
    assert len(checkpoint["rng"]) == 1  # the same number of processes resumes as before


def test_evaluate_errors(tmp_path, capsys):
    assert main(["--evaluate", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing.pt")


# --------------------------------------------------------------------------- parts


def test_plateau_schedule_drops_after_patience_at_most_max_drops():
    s = LRSchedule("plateau", 0.01, factor=0.1, patience=2, threshold=0.001, max_drops=3)
    errors = [0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7] + [0.7] * 10
    lrs = []
    for epoch, err in enumerate(errors, 1):
        s.update(epoch, err)
        lrs.append(s.lr)
    assert lrs[:6] == [0.01, 0.01, 0.01, pytest.approx(0.001), pytest.approx(0.001), pytest.approx(0.001)]
    assert lrs[6] == pytest.approx(1e-4)
    assert s.drops == 3 and lrs[-1] == pytest.approx(1e-5)  # never a fourth drop
    restored = LRSchedule("plateau", 0.01)
    restored.load_state_dict(s.state_dict())
    assert restored.state_dict() == s.state_dict()


def old_plateau_rule(errors, lr, factor, patience, threshold, max_drops):
    """The hand-written rule the schedule had before torch's ReduceLROnPlateau: the lr after each
    epoch, and (best, bad epochs, drops) after each epoch."""
    best, bad, drops, lrs, states = math.inf, 0, 0, [], []
    for err in errors:
        if err < best - threshold:
            best, bad = err, 0
        else:
            bad += 1
            if bad >= patience and drops < max_drops:
                lr, drops, bad = lr * factor, drops + 1, 0
        lrs.append(lr)
        states.append(dict(lr=lr, best=best, bad_epochs=bad, drops=drops))
    return lrs, states


# 21 epochs: improvements, stalls within the threshold, a fall smaller than it, and more stalls
# than max_drops can answer.
VAL_ERRORS = [0.80, 0.70, 0.65, 0.65, 0.651, 0.649, 0.55, 0.54, 0.54, 0.541, 0.54, 0.50, 0.4995,
              0.50, 0.50, 0.49, 0.49, 0.49, 0.49, 0.49, 0.49]


@pytest.mark.parametrize("patience, threshold, max_drops", [(3, 0.001, 3), (2, 0.001, 3), (1, 0.0, 2),
                                                            (3, 0.01, 1)])
def test_torch_schedulers_give_the_old_rules_learning_rates(patience, threshold, max_drops):
    expected, _ = old_plateau_rule(VAL_ERRORS, 0.01, 0.1, patience, threshold, max_drops)
    s = LRSchedule("plateau", 0.01, factor=0.1, patience=patience, threshold=threshold,
                   max_drops=max_drops)
    got = []
    for epoch, err in enumerate(VAL_ERRORS, 1):
        s.update(epoch, err)
        got.append(s.lr)
    assert got == expected  # the same products, bit for bit
    assert len(set(expected)) > 1  # the sequence drops the lr at least once
    step = LRSchedule("step", 0.01, factor=0.1, step_epochs=7)
    lrs = []
    for epoch in range(1, 22):
        step.update(epoch, None)
        lrs.append(step.lr)
    assert lrs == pytest.approx([0.01 * 0.1 ** (epoch // 7) for epoch in range(1, 22)], rel=1e-12)


def test_a_schedule_saved_before_torchs_schedulers_resumes():
    _, states = old_plateau_rule(VAL_ERRORS, 0.01, 0.1, 3, 0.001, 3)
    expected, _ = old_plateau_rule(VAL_ERRORS, 0.01, 0.1, 3, 0.001, 3)
    for k in (5, 9, 14):  # resume after epoch k from the old checkpoint's schedule state
        s = LRSchedule("plateau", 0.01, factor=0.1, patience=3, threshold=0.001, max_drops=3)
        s.load_state_dict(states[k - 1])
        assert s.lr == expected[k - 1] and s.drops == states[k - 1]["drops"]
        for epoch, err in enumerate(VAL_ERRORS[k:], k + 1):
            s.update(epoch, err)
            assert s.lr == expected[epoch - 1]
    old_step = dict(lr=0.001, best=math.inf, bad_epochs=0, drops=1)  # an old step schedule, epoch 8
    s = LRSchedule("step", 0.01, factor=0.1, step_epochs=7)
    with pytest.raises(ValueError, match="epochs_done"):
        s.load_state_dict(old_step)
    s.load_state_dict(old_step, epochs_done=8)
    for epoch in range(9, 16):
        s.update(epoch, None)
    assert s.lr == pytest.approx(1e-4, rel=1e-12) and s.drops == 2  # the drop at epoch 14


def test_step_schedule():
    s = LRSchedule("step", 0.01, factor=0.1, step_epochs=30)
    lrs = {}
    for epoch in range(1, 91):
        s.update(epoch, None)
        lrs[epoch] = s.lr
    assert lrs[29] == 0.01 and lrs[30] == pytest.approx(0.001) and lrs[60] == pytest.approx(1e-4)


def test_png_cmyk_and_grayscale_files_train_like_jpegs(folder, stats, tmp_path):
    # The ILSVRC2012 quirks (also handled once and for all by alexnet_lib.data.prepare).
    odd = tmp_path / "odd"
    shutil.copytree(folder, odd)
    (odd / "train" / "disc" / "zz_truncated.JPEG").unlink()
    src = next((odd / "train" / "ring").iterdir())
    image = Image.open(src)
    image.save(odd / "train" / "ring" / "png_as.JPEG", format="PNG")
    image.convert("CMYK").save(odd / "train" / "ring" / "cmyk.JPEG", format="JPEG")
    image.convert("L").save(odd / "train" / "ring" / "gray.JPEG", format="JPEG")
    out = tmp_path / "r"
    assert main(["--data", str(odd), *TINY, "--stats", stats, "--epochs", "1", "--no-eval",
                 "--schedule", "step", "--workers", "0", "--out", str(out)]) == 0
    assert int(read_metrics(out)[0]["skipped_images"]) == 0


@pytest.mark.parametrize("flags", [["--amp", "bf16", "--channels-last"], ["--amp", "fp16"]])
def test_gpu_speed_settings_run_on_the_cpu_path_too(folder, stats, tmp_path, flags):
    # bf16 autocast and channels_last are the GPU defaults; fp16 brings a gradient scaler, whose
    # state must be in the checkpoint and come back on --resume. (torch.compile is not run here:
    # on a CPU it needs a C++ toolchain and minutes.)
    out = tmp_path / "r"
    common = ["--data", str(folder), *TINY, "--stats", stats, "--limit-steps", "2", "--no-eval",
              "--schedule", "step", "--workers", "0"]
    assert main([*common, *flags, "--epochs", "1", "--out", str(out)]) == 0
    state = load_checkpoint(out / "last.pt")
    assert state["config"]["amp"] == flags[1]
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    if flags[1] == "fp16":
        assert state["scaler"]["scale"] > 0
        parser = build_parser()
        cfg, ckpt = resolve_config(parser.parse_args(["--out", str(out), "--resume", "--epochs", "2",
                                                      "--amp", "fp16", "--workers", "0"]), parser)
        assert Trainer(cfg, checkpoint=ckpt).scaler.state_dict() == state["scaler"]
    else:
        assert state["scaler"] is None and state["config"]["channels_last"] is True


def test_torchvision_recipe_and_network(folder, stats, tmp_path):
    out = tmp_path / "r"
    assert main(["--data", str(folder), "--recipe", "torchvision", "--arch", "torchvision",
                 "--image-size", "72", "--crop-size", "64", "--batch-size", "10", "--epochs", "1",
                 "--limit-steps", "2", "--workers", "0", "--no-progress", "--stats", stats,
                 "--out", str(out)]) == 0
    state = load_checkpoint(out / "last.pt")
    cfg = state["config"]
    assert (cfg["weight_decay"], cfg["schedule"], cfg["augment"], cfg["bias_decay"]) == (
        1e-4, "step", "torchvision", True)
    assert "classifier.6.weight" in state["model"]  # torchvision's AlexNet, fc8 last
    assert [g["weight_decay"] for g in state["optimizer"]["param_groups"]] == [1e-4]  # biases too
    final = json.loads((out / "final.json").read_text())
    assert [r["crops"] for r in final["results"]] == ["centre"]  # its recipe: centre crop only


def test_model_switches_reach_the_network():
    """--remove and --lrn-across-columns build the network they name."""
    from alexnet_lib.lrn import LocalResponseNorm
    from alexnet_lib.train import DEFAULTS

    cfg = dict(DEFAULTS, arch="alexnet", dropout=0.5, init="paper", width=0.25, hidden=64,
               crop_size=224, remove=["conv4", "conv3"], lrn_across_columns=True)
    net = build_model(cfg, 10)
    names = dict(net.features.named_children())
    assert "conv3" not in names and "conv4" not in names
    assert isinstance(net.features.norm1, LocalResponseNorm) and net.features.norm1.groups == 1
    assert build_model(dict(cfg, remove=(), lrn_across_columns=False), 10).features.norm1.groups == 2


def test_a_checkpoint_rebuilds_its_model_from_its_own_config(stats):
    """model_config in a checkpoint is AlexNet's keyword arguments: for every --init choice of the
    command, AlexNet(**model_config) builds the network the weights belong to."""
    from alexnet_lib import AlexNet
    from alexnet_lib.train import DEFAULTS

    (init_flag,) = [a for a in build_parser()._actions if a.dest == "init"]
    cfg = dict(DEFAULTS, arch="alexnet", dropout=0.5, width=0.25, hidden=64, crop_size=64)
    for init in init_flag.choices:
        model = build_model(dict(cfg, init=init), 10)
        rebuilt = AlexNet(**model.config)
        assert rebuilt.config == model.config and rebuilt.config["init"] == init
        rebuilt.load_state_dict(model.state_dict())  # the same shapes
    saved = load_checkpoint(Path(stats).parent / "last.pt")  # a run of the command, --init kaiming
    assert saved["model_config"]["init"] == "kaiming"
    AlexNet(**saved["model_config"]).load_state_dict(saved["model"])


def test_init_he_and_its_old_name_kaiming_build_the_same_network():
    """--init he is --init kaiming (a checkpoint's config and the training chapter say kaiming):
    under one seed, the same weights, and each config names what it was given."""
    from alexnet_lib.train import DEFAULTS

    (init_flag,) = [a for a in build_parser()._actions if a.dest == "init"]
    assert {"he", "kaiming"} <= set(init_flag.choices)
    cfg = dict(DEFAULTS, arch="alexnet", dropout=0.5, width=0.25, hidden=64, crop_size=64)
    nets = {}
    for init in ("he", "kaiming", "torch"):
        torch.manual_seed(0)
        nets[init] = build_model(dict(cfg, init=init), 10)
    assert nets["he"].config["init"] == "he" and nets["kaiming"].config["init"] == "kaiming"
    he, kaiming, plain = (nets[k].state_dict() for k in ("he", "kaiming", "torch"))
    assert all(torch.equal(he[k], kaiming[k]) for k in he)
    assert not torch.equal(he["features.conv1.weight"], plain["features.conv1.weight"])
