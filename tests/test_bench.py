"""The benchmark command (python -m alexnet_lib.bench) on tiny inputs: it runs and reports."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alexnet_lib import bench


def test_lrn_bench_reports_speedup():
    out = subprocess.run([sys.executable, "-m", "alexnet_lib.bench", "lrn", "--shape", "2", "16", "9", "9",
                          "--repeats", "2"], capture_output=True, text=True, check=True).stdout
    last = out.strip().splitlines()[-1]
    assert last.startswith("speedup: ") and float(last.split()[1]) > 0


def test_lrn_bench_times_both():
    r = bench.bench_lrn((2, 16, 9, 9), repeats=2)
    assert r["ours_s"] > 0 and r["torch_s"] > 0
    assert r["speedup"] == pytest.approx(r["torch_s"] / r["ours_s"])
    assert r["ours_s"] == r["slices_s"] and "triton_s" not in r  # the CPU default: tensor ops


def test_lrn_bench_options():
    out = subprocess.run([sys.executable, "-m", "alexnet_lib.bench", "lrn", "--shape", "2", "16", "9", "9",
                          "--repeats", "1", "--channels-last"],
                         capture_output=True, text=True, check=True).stdout
    assert "float32 channels_last on cpu" in out and "tensor ops (CPU default)" in out


def test_lrn_bench_reports_a_failing_variant_and_times_the_rest():
    """torch's LRN has no bfloat16 on CPUs: the bench says so, times ours, and exits 1."""
    proc = subprocess.run([sys.executable, "-m", "alexnet_lib.bench", "lrn", "--shape", "2", "16", "9", "9",
                           "--repeats", "1", "--dtype", "bfloat16"], capture_output=True, text=True)
    assert proc.returncode == 1 and "speedup" not in proc.stdout
    assert "tensor ops (CPU default)" in proc.stdout and "torch FAILED: NotImplementedError" in proc.stderr


def test_examples_progress_parsing(tmp_path, monkeypatch):
    """The steady-state rate comes from two of pytorch/examples' running-mean lines."""
    fake = tmp_path / "main.py"
    fake.write_text(
        "print('Epoch: [0][ 1/40]\\tTime  5.000 ( 5.000)\\tData 0')\n"
        "print('Epoch: [0][11/40]\\tTime  0.100 ( 0.545)\\tData 0')\n"  # 10 batches of 0.1 s after the first
        "print('Epoch: [0][21/40]\\tTime  0.100 ( 0.3333)\\tData 0')\n")
    rate = bench.bench_pytorch_examples(fake, tmp_path, batch_size=50, workers=0, timeout=60)
    # Between lines 11 and 21: (0.3333*21 - 0.545*11) / 10 = 0.1 s per batch of 50.
    assert rate == pytest.approx(500, rel=0.01)


def test_jpeg_folder_for_the_train_bench(tmp_path):
    root = bench.make_jpeg_folder(tmp_path / "f", images=20, size=(64, 48), workers=1)
    assert len(list((root / "train").glob("*/*.JPEG"))) == 20
    assert len(list((root / "val").glob("*/*.JPEG"))) == 50  # 5 per class for the examples' eval


def test_prepared_copy_is_the_papers_256_square(tmp_path):
    """--prepared: every image of the folder, shorter side 256 then the central square."""
    from PIL import Image

    root = bench.make_jpeg_folder(tmp_path / "f", images=6, size=(500, 375), workers=1)
    copy = bench.make_prepared_copy(root, tmp_path / "f-256", workers=1)
    originals = sorted(p.relative_to(root) for p in root.glob("*/*/*.JPEG"))
    assert sorted(p.relative_to(copy) for p in copy.glob("*/*/*.JPEG")) == originals
    for rel in originals[:3]:
        with Image.open(copy / rel) as im:
            assert im.size == (256, 256) and im.mode == "RGB"
    mtime = (copy / originals[0]).stat().st_mtime_ns
    bench.make_prepared_copy(root, copy, workers=1)  # complete already: reused, not rewritten
    assert (copy / originals[0]).stat().st_mtime_ns == mtime


def test_train_table_prints_each_ratio_it_can():
    rates = {"a": 100.0, "b": 50.0, "b256": 400.0, "c": 800.0}
    result = {"images_per_s": rates, "b_over_a": 0.5, "b_over_c": 0.0625, "b256_over_a": 4.0}
    table = bench.format_train_table(result)
    assert "(b256)" in table and "folder prepared at 256x256" in table
    assert "b/a: 0.50" in table and "b256/a: 4.00" in table and "b256/a256" not in table


def test_gpu_measurements_are_recorded():
    """The H100 table quoted in the book comes from this file, written by the bench command."""
    record = json.loads((Path(__file__).parents[1] / "book/results/gpu/bench_train_h100.json").read_text())
    assert record["device"].startswith("NVIDIA H100")
    assert set(record["images_per_s"]) >= {"a", "b", "c"}
    assert record["b_over_a"] == pytest.approx(record["images_per_s"]["b"] / record["images_per_s"]["a"])


def test_measurements_record_when_and_with_what(monkeypatch):
    record = bench._provenance()
    assert set(record) >= {"date", "commit", "cpus", "torchvision", "triton", "python"}
    assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", record["commit"])  # this checkout's HEAD
    # A tree copied without .git (a lent GPU machine) takes the commit it is given.
    monkeypatch.setattr("alexnet_lib.experiments.records.git_commit", lambda **kw: "unknown")
    monkeypatch.setenv("ALEXNET_COMMIT", "0123456789ab")
    assert bench._provenance()["commit"] == "0123456789ab"


def test_train_bench_keeps_every_row_it_measured(tmp_path, monkeypatch):
    """A failing row is recorded and the others still run; the JSON is rewritten after each row."""
    seen = []

    def examples(*args):
        raise RuntimeError("could not read pytorch/examples' progress lines")

    def ours(*args):
        seen.append(json.loads((tmp_path / "r.json").read_text()))  # (a)'s failure already saved
        return 50.0

    monkeypatch.setattr(bench, "make_jpeg_folder", lambda root, images, size: root)
    monkeypatch.setattr(bench, "bench_pytorch_examples", examples)
    monkeypatch.setattr(bench, "bench_ours", ours)
    monkeypatch.setattr(bench, "bench_model_ceiling", lambda *args, **kw: 100.0)
    code = bench.main(["train", "--folder", str(tmp_path / "f"), "--examples", "main.py", "--device", "cpu",
                       "--json", str(tmp_path / "r.json")])
    record = json.loads((tmp_path / "r.json").read_text())
    assert code == 1  # a row failed
    assert "progress lines" in seen[0]["errors"]["a"] and seen[0]["images_per_s"] == {}
    assert record["images_per_s"] == {"b": 50.0, "c": 100.0} and record["b_over_c"] == 0.5
    assert "b_over_a" not in record and "commit" in record


@pytest.mark.parametrize("options", [{}, {"dtype": torch.bfloat16, "channels_last": True}])
def test_layers_bench_times_every_layer(options):
    from alexnet_lib import AlexNet

    net = AlexNet(width=0.25, num_classes=10, input_size=64)
    r = bench.bench_layers(batch_size=2, repeats=1, model=net, input_size=64, **options)
    names = [row["name"] for row in r["layers"]]
    assert names[:4] == ["conv1", "act1", "norm1", "pool1"] and names[-1] == "fc8" and "flatten" in names
    assert [row["kind"] for row in r["layers"]][:4] == ["conv", "relu", "lrn", "pool"]
    assert all(row["seconds"] > 0 for row in r["layers"]) and r["total_s"] > 0
    table = bench.format_layer_times(r)
    assert table.splitlines()[1].startswith("conv1") and "whole net" in table
    assert net.features.act1.inplace  # the network itself is left as it was


def test_book_bench_times_each_chapter_notebook_in_its_folder(tmp_path, capfd):
    pytest.importorskip("nbclient")  # the book's packages (pip install -e '.[book]')
    import nbformat

    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                       "- file: book/page\n- file: book/chapter\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "page.md").write_text("# A markdown page: not timed\n")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("open('ran.txt', 'w').write('yes')"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "book" / "chapter.ipynb")
    times = bench.bench_book(tmp_path)
    assert list(times) == ["book/chapter"] and times["book/chapter"] > 0
    assert (tmp_path / "book" / "ran.txt").read_text() == "yes"  # ran in the chapter's folder
    out, err = capfd.readouterr()
    assert "book/chapter" in out and "total" in out
    assert "WARNING" not in err  # the kernel's start-up chatter is silenced


def test_pipeline_bench_times_every_stage(tmp_path):
    folder = bench.make_jpeg_folder(tmp_path / "jpeg", 48, (120, 90), workers=1)
    r = bench.bench_pipeline_stages(folder, batch_size=8, workers=0, device="cpu", batches=3, threads=2)
    assert list(r["images_per_s"]) == list(bench.PIPELINE_STAGES)
    assert all(rate > 0 for rate in r["images_per_s"].values())
    assert r["batches"] == 3 and r["commit"] and r["device"]
    table = bench.format_pipeline_stages(r)
    assert "decode JPEGs, 2 threads" in table and "256x256" in table
    with pytest.raises(RuntimeError, match="too few batches"):
        bench.bench_pipeline_stages(folder, batch_size=48, workers=0, device="cpu", batches=3)


def test_pipeline_bench_command(tmp_path, capsys):
    record = tmp_path / "stages.json"
    assert bench.main(["pipeline", "--folder", str(tmp_path / "jpeg"), "--images", "32", "--image-size",
                       "96", "64", "--batch-size", "8", "--batches", "2", "--workers", "1", "--threads",
                       "2", "--device", "cpu", "--prepared", "--json", str(record)]) == 0
    out = capsys.readouterr().out
    assert "decode + resize to 256x256" in out and "decode JPEGs, 2 threads" in out
    assert "256x256 folder" in out
    r = json.loads(record.read_text())
    assert set(r["images_per_s"]) == set(r["images_per_s_prepared"]) == set(bench.PIPELINE_STAGES)
    assert (tmp_path / "jpeg-256").is_dir()  # where bench train --prepared looks for it


def test_pipeline_bench_refuses_too_few_batches(capsys):
    with pytest.raises(SystemExit):
        bench.main(["pipeline", "--batches", "1"])
    assert "--batches >= 2" in capsys.readouterr().err


def test_ceiling_sweep_times_each_variant_records_failures_and_profiles_the_fastest(tmp_path):
    from alexnet_lib.ceiling import Variant, format_sweep, sweep

    variants = (Variant(2, None, channels_last=False), Variant(2, "no-such-mode"))
    path = tmp_path / "ceiling.json"
    record = sweep("cpu", variants, steps=1, budget_s=600, json_path=path,
                   header={"commit": "abc"}, log=lambda m: None)
    assert json.loads(path.read_text()) == record and record["commit"] == "abc"
    ok, bad = record["rows"]
    assert ok["images_per_s"] > 0 and ok["name"] == "batch 2, eager, NCHW"
    assert "Unrecognized mode" in bad["error"] and "images_per_s" not in bad
    assert record["best"] == ok["name"] and record["profile"]["variant"] == ok["name"]
    top = record["profile"]["top"]
    assert top and all(0 < e["share"] <= 1 for e in top)
    assert top == sorted(top, key=lambda e: -e["share"])
    assert any("conv" in e["name"] or "mm" in e["name"] for e in top)
    assert "failed" in format_sweep(record)
    # no variant starts after the budget: a sweep cut short says which it left out
    late = sweep("cpu", variants, steps=1, budget_s=-1, profile=False, log=lambda m: None)
    assert late["rows"] == [] and late["not_run"] == [v.name for v in variants]
