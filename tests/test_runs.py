"""alexnet_lib.runs: a run folder becomes a record, and a record becomes the curves' figure."""

from __future__ import annotations

import csv
import json

import matplotlib
import pytest

from alexnet_lib.runs import (
    EPOCH_KEYS,
    load_record,
    main,
    plot_runs,
    record_from_run,
    summarize_runs,
    write_record,
)

matplotlib.use("Agg")


def fake_run(folder, init="paper", losses=(2.5, 2.3, 2.3), lrs=(0.01, 0.01, 0.001)):
    """A run folder as the training command leaves it, with made-up numbers."""
    folder.mkdir(parents=True)
    cfg = {"recipe": "paper", "init": init, "epochs": len(losses), "batch_size": 128, "lr": 0.01,
           "seed": 0, "device": "cpu", "out": str(folder), "data": "/somewhere"}
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "env.json").write_text(json.dumps({
        "command": "python -m alexnet_lib.train --data D", "started": "2026-01-01T00:00:00+00:00",
        "torch": "2.x", "git_commit": "abc", "git_dirty": False}))
    with open(folder / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*EPOCH_KEYS, "skipped_images"])
        writer.writeheader()
        for i, (loss, lr) in enumerate(zip(losses, lrs, strict=True)):
            writer.writerow({"epoch": i + 1, "lr": lr, "train_loss": loss, "train_top1_err": 0.9,
                             "val_loss": loss, "val_top1_err": 0.9 - 0.1 * i, "val_top5_err": 0.5,
                             "epoch_seconds": 10.5, "images_per_s": 20, "skipped_images": 0,
                             "hours": 0.004 * (i + 1)})
    return folder


def test_a_run_folder_becomes_a_record_and_the_record_a_figure(tmp_path):
    run = record_from_run(fake_run(tmp_path / "a"), "3 fake epochs", threads=2, note="made up")
    assert run["command"] == "python -m alexnet_lib.train --data D" and run["commit"] == "abc"
    assert run["threads"] == run["hardware"]["threads"] == 2 and run["seed"] == 0
    assert run["hardware"]["cpu_model"] and run["date"].startswith("2026-01-01")
    assert run["config"]["init"] == "paper" and "out" not in run["config"]
    assert [e["epoch"] for e in run["epochs"]] == [1, 2, 3]
    assert [e["lr"] for e in run["epochs"]] == [0.01, 0.01, 0.001]
    assert run["epochs"][2]["val_top1_err"] == pytest.approx(0.7)
    assert run["wall_seconds"] == pytest.approx(43.2) and run["final"] is None
    assert run["data"] == "3 fake epochs" and run["note"] == "made up"

    other = record_from_run(fake_run(tmp_path / "b", init="caffe", losses=(2.3, 1.5, 0.9),
                                      lrs=(0.01, 0.01, 0.01)), "x")
    path = write_record(tmp_path / "r.json", [run, other], question="does it learn?")
    body = load_record(path)
    assert body["question"] == "does it learn?" and len(body["runs"]) == 2

    fig = plot_runs(body["runs"], classes=10)
    loss_ax, err_ax = fig.axes
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["--init paper", "--init caffe", "chance, ln 10"]
    assert list(loss_ax.lines[1].get_ydata()) == [2.3, 1.5, 0.9]
    drops = [ln for ln in err_ax.lines if list(ln.get_xdata()) == [2.5, 2.5]]  # lr / 10 after epoch 2
    assert len(drops) == 1
    assert len(plot_runs(run).axes) == 2  # one run, no chance lines without a class count
    assert summarize_runs(body["runs"]).splitlines() == [
        "--init paper: 3 epochs of ? images; training loss 2.500 -> 2.300; best validation top-1 "
        "error 70.0%; lr 0.01, 0.001; 10 s an epoch",
        "--init caffe: 3 epochs of ? images; training loss 2.300 -> 0.900; best validation top-1 "
        "error 70.0%; lr 0.01; 10 s an epoch"]


def test_the_command_writes_a_record_and_rejects_other_files(tmp_path, capsys):
    fake_run(tmp_path / "a")
    out = tmp_path / "rec.json"
    probes = tmp_path / "p.jsonl"
    probes.write_text('{"spec": "paper@0.01", "loss_per_step": [3.2, 7.1]}\n')
    assert main([str(tmp_path / "a"), "--out", str(out), "--data", "d", "--classes", "10",
                 "--label", "the paper's", "--probes", str(probes), "--probe-command", "cmd",
                 "--finding", "it does not"]) == 0
    body = load_record(out)
    assert body["finding"] == "it does not" and body["probes"]["commands"] == ["cmd"]
    assert body["probes"]["results"][0]["loss_per_step"] == [3.2, 7.1]
    (run,) = body["runs"]
    assert run["label"] == "the paper's" and run["classes"] == 10
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="not a record"):
        load_record(tmp_path / "other.json")


def test_init_probe_tool_runs_its_steps_and_alive_checks_on_a_tiny_net(tmp_path):
    """tools/init_probe.py, the minutes-long probe behind the record's fixed-batch numbers."""
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    from alexnet_lib import AlexNet
    from alexnet_lib.data import DatasetStatistics, write_image_folder

    repo = Path(__file__).resolve().parents[1]
    data = write_image_folder(tmp_path / "d", size=72, train_per_class=2, val_per_class=0)
    stats = tmp_path / "stats.npz"
    DatasetStatistics(image=np.full((3, 72, 72), 0.5), channel_mean=np.full(3, 0.5),
                      channel_std=np.full(3, 0.2), count=20).save(stats)
    tool = [sys.executable, str(repo / "tools" / "init_probe.py")]
    done = subprocess.run([*tool, "steps", "--data", str(data), "--stats", str(stats), "--steps", "2",
                           "--batch", "8", "--width", "0.25", "--hidden", "32", "--crop", "64",
                           "caffe@0.01", "paper@0.01@1000"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["spec"] for line in lines] == ["caffe@0.01", "paper@0.01@1000"]
    assert all(len(line["loss_per_step"]) == 2 and line["batch"] == 8 for line in lines)

    import torch

    from alexnet_lib.checkpoint import FORMAT, atomic_save

    net = AlexNet(10, width=0.25, hidden=32, input_size=64, init="caffe")
    state = {"format": FORMAT, "epoch": 1, "step": 0,
             "model": net.state_dict(), "model_config": net.config,
             "statistics": {"image": torch.full((3, 72, 72), 0.5)},
             "config": {"crop_size": 64, "input_scale": 255.0}}
    atomic_save(state, tmp_path / "c.pt")
    done = subprocess.run([*tool, "alive", "--data", str(data), "--batch", "8", str(tmp_path / "c.pt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= {"act1", "act5", "act6", "act7", "logit_std_over_images"}
    assert all(0 <= out[k] <= 1 for k in ("act1", "act7"))
