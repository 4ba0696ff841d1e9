"""The ILSVRC2012 preparation command, on a small fake of the official layout and its quirks."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat
from torchvision import transforms

from alexnet_lib.data import DatasetStatistics, validate_image_folder
from alexnet_lib.data.prepare import convert_image, main, read_devkit, read_val_labels

# ILSVRC2012 class ids are not in sorted WordNet-id order (id 1 is the kit fox, n02119789):
# the fake devkit keeps that property, so a sorted-order shortcut would put images in wrong folders.
CLASSES = {1: "n02119789", 2: "n01440764", 3: "n01443537"}
VAL_IDS = [3, 1, 2, 2, 1, 3]  # ground truth of ILSVRC2012_val_00000001 ... 00000006


def _photo(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, (1, 1, 3))
    ramp = np.linspace(0, 120, w)[None, :, None]
    return Image.fromarray(np.clip(base + ramp + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> dict[str, Path]:
    """ILSVRC2012_img_train.tar (a tar of per-class tars), a flat val folder and a devkit .tar.gz."""
    root = tmp_path_factory.mktemp("official")
    per_class = {}
    for k, wnid in enumerate(sorted(CLASSES.values())):
        files = {f"{wnid}_{i}.JPEG": _jpeg(_photo(10 * k + i, (120 + 20 * i, 90))) for i in range(3)}
        per_class[wnid] = files
    quirks = per_class["n01440764"]
    quirks["n01440764_png.JPEG"] = _jpeg(_photo(99, (100, 80)), "PNG")  # a PNG named .JPEG
    quirks["n01440764_cmyk.JPEG"] = _jpeg(_photo(98, (90, 110)).convert("CMYK"))
    quirks["n01440764_gray.JPEG"] = _jpeg(_photo(97, (100, 100)).convert("L"))
    quirks["n01440764_truncated.JPEG"] = _jpeg(_photo(96, (100, 100)))[:200]
    outer = {f"{wnid}.tar": _tar_bytes(files) for wnid, files in per_class.items()}
    (root / "ILSVRC2012_img_train.tar").write_bytes(_tar_bytes(outer))

    val = root / "val"
    val.mkdir()
    for i in range(1, len(VAL_IDS) + 1):
        _photo(200 + i, (130, 100)).save(val / f"ILSVRC2012_val_{i:08d}.JPEG", quality=90)

    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
              "wordnet_height", "num_train_images"]
    rows = [(cid, wnid, f"class {cid}", "", 0, np.zeros(0), 0, 3) for cid, wnid in CLASSES.items()]
    rows.append((1001, "n00001740", "entity", "", 3, np.array([1, 2, 3]), 4, 0))  # not a class
    synsets = np.empty((len(rows), 1), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        synsets[i, 0] = row
    meta = io.BytesIO()
    savemat(meta, {"synsets": synsets})
    devkit = {"ILSVRC2012_devkit_t12/data/meta.mat": meta.getvalue(),
              "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt":
                  "".join(f"{c}\n" for c in VAL_IDS).encode()}
    with tarfile.open(root / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as tar:
        for name, data in devkit.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {"train": root / "ILSVRC2012_img_train.tar", "val": val,
            "devkit": root / "ILSVRC2012_devkit_t12.tar.gz", "root": root}


def test_devkit_maps_validation_images_through_meta_mat(official):
    labels = read_devkit(official["devkit"])
    assert labels == {i: CLASSES[c] for i, c in enumerate(VAL_IDS, 1)}


def test_official_layout_becomes_the_training_layout(official, tmp_path, capsys):
    out = tmp_path / "imagenet"
    code = main(["--train", str(official["train"]), "--val", str(official["val"]),
                 "--devkit", str(official["devkit"]), "--out", str(out), "--size", "64",
                 "--workers", "2", "--no-progress", "--stats-images", "50"])
    printed = capsys.readouterr()
    assert code == 0
    summary = validate_image_folder(out)  # the layout the training command expects
    assert list(summary.classes) == sorted(CLASSES.values())
    for i, cid in enumerate(VAL_IDS, 1):
        assert (out / "val" / CLASSES[cid] / f"ILSVRC2012_val_{i:08d}.JPEG").is_file()
    files = sorted((out / "train").glob("*/*.JPEG"))
    assert len(files) == 9 + 3  # 3 per class, plus the PNG, CMYK and grayscale ones
    for f in files + sorted((out / "val").glob("*/*.JPEG")):
        with Image.open(f) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 64)), f
    report = json.loads((out / "prepare_report.json").read_text())
    train = report["train"]
    assert train["written"] == 12 and report["val"]["written"] == 6
    assert [len(train[k]) for k in ("png", "cmyk", "grayscale", "failed")] == [1, 1, 1, 1]
    assert "n01440764_truncated.JPEG" in train["failed"][0]
    line = [ln for ln in printed.out.splitlines() if ln.startswith("train:")][0]
    assert "1 PNG saved as .JPEG: n01440764_png.JPEG" in line and "1 CMYK" in line
    assert "1 grayscale" in line and "1 could not be decoded" in line
    assert "1 files could not be decoded" in printed.err
    stats = DatasetStatistics.load(out / "stats_64.npz")
    assert stats.image.shape == (3, 64, 64) and stats.rgb_eigenvalues is not None

    # Written once: a second run keeps every file (an interrupted run just starts again).
    before = {f: f.stat().st_mtime_ns for f in files}
    assert main(["--train", str(official["train"]), "--out", str(out), "--size", "64",
                 "--workers", "1", "--no-progress", "--no-stats"]) == 0
    assert json.loads((out / "prepare_report.json").read_text())["train"]["already_there"] == 12
    assert {f: f.stat().st_mtime_ns for f in files} == before


def test_unpacked_folders_and_a_labels_file(official, tmp_path):
    train = tmp_path / "train"
    with tarfile.open(official["train"]) as outer:
        for member in outer.getmembers():
            inner = outer.extractfile(member)
            assert inner is not None
            with tarfile.open(fileobj=io.BytesIO(inner.read())) as tar:
                tar.extractall(train / Path(member.name).stem, filter="data")
    labels = tmp_path / "val_labels.txt"
    labels.write_text("".join(f"ILSVRC2012_val_{i:08d}.JPEG {CLASSES[c]}\n"
                              for i, c in enumerate(VAL_IDS, 1)))
    assert read_val_labels(labels)["ILSVRC2012_val_00000002"] == "n02119789"
    out = tmp_path / "out"
    assert main(["--train", str(train), "--val", str(official["val"]), "--val-labels", str(labels),
                 "--out", str(out), "--size", "48", "--train-per-class", "2", "--workers", "1",
                 "--no-progress", "--no-stats"]) == 0
    assert all(len(list(d.iterdir())) == 2 for d in (out / "train").iterdir())
    assert len(list((out / "val").glob("*/*.JPEG"))) == 6


def test_convert_image_is_the_papers_rescale_and_centre_crop():
    image = _photo(5, (300, 200))
    data, info = convert_image(_jpeg(image, "PNG"), size=128, quality=95)
    assert info == {"format": "PNG", "mode": "RGB", "width": 300, "height": 200}
    ours = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32)
    reference = transforms.Compose([transforms.Resize(128), transforms.CenterCrop(128)])(image)
    assert ours.shape == (128, 128, 3)
    assert np.abs(ours - np.asarray(reference, dtype=np.float32)).mean() < 3.0  # JPEG rounding only


@pytest.mark.parametrize("args, message", [
    (["--train", "/nonexistent/ILSVRC2012_img_train.tar"], "training images not found: /nonexistent"),
    (["--val", "VAL"], "--val needs the classes of the validation images"),
    (["--val", "VAL", "--devkit", "/nonexistent.tar.gz"], "devkit not found: /nonexistent.tar.gz"),
    (["--train", "VAL"], "no class folders (n01440764/ ...) or class archives"),
    ([], "nothing to do"),
])
def test_bad_inputs_are_explained(official, tmp_path, capsys, args, message):
    args = [a.replace("VAL", str(official["val"])) for a in args]
    assert main([*args, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_ground_truth_that_does_not_cover_the_images(official, tmp_path, capsys):
    extra = tmp_path / "val"
    extra.mkdir()
    for f in official["val"].iterdir():
        (extra / f.name).write_bytes(f.read_bytes())
    _photo(1, (50, 50)).save(extra / "ILSVRC2012_val_00000099.JPEG")
    assert main(["--val", str(extra), "--devkit", str(official["devkit"]), "--out",
                 str(tmp_path / "o"), "--no-progress"]) == 2
    assert "1 validation images have no label" in capsys.readouterr().err
