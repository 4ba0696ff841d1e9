"""Turn the official ILSVRC2012 archives into the folder the training command reads, once.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the data section).

    python -m alexnet_lib.data.prepare \\
        --train /archives/ILSVRC2012_img_train.tar \\
        --val /archives/ILSVRC2012_img_val.tar \\
        --devkit /archives/ILSVRC2012_devkit_t12.tar.gz \\
        --out data/imagenet --workers 16

What it does, as the paper did (Section 2): every image is rescaled so that its shorter side is
256 pixels and the central 256x256 patch is cut out; the result is written as a JPEG (quality
95) to ``OUT/train/<wnid>/`` or ``OUT/val/<wnid>/``. Training then decodes small 256x256 files
instead of the full-size originals (on average about 400x350, many much larger) 90 times.

Inputs, each either the archive as downloaded or already unpacked:

* ``--train``: ``ILSVRC2012_img_train.tar`` (one ``<wnid>.tar`` per class inside), a folder of
  those per-class tars, or a folder of ``<wnid>/`` folders of JPEGs.
* ``--val``: ``ILSVRC2012_img_val.tar`` or the folder it unpacks to: 50,000 files in one flat
  folder, ``ILSVRC2012_val_00000001.JPEG`` ... Their classes come from
* ``--devkit``: ``ILSVRC2012_devkit_t12.tar.gz`` (or its folder): ``data/meta.mat`` maps the
  ILSVRC2012 class ids 1..1000 to WordNet ids, and ``data/ILSVRC2012_validation_ground_truth.txt``
  gives the class id of validation image 1, 2, ... one per line. (The ids are *not* in sorted
  WordNet-id order: id 1 is n02119789, the kit fox, so the mapping must be read.) Or
* ``--val-labels FILE``: lines ``<file name> <wnid>`` (or Kaggle's ``LOC_val_solution.csv``).

Known quirks of the archive, all converted to plain RGB JPEGs and counted in the report: one
PNG saved with a ``.JPEG`` name, a few dozen CMYK JPEGs, some grayscale JPEGs. Files that cannot
be decoded are left out and listed. Every output file is written atomically (temporary name,
then rename), so an interrupted run can simply be started again: files already written are
kept (``--overwrite`` redoes them). The report goes to the terminal and to
``OUT/prepare_report.json``; the training set's mean image and RGB PCA are computed at the end
into ``OUT/stats_256.npz``, which the training command picks up.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import sys
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..checkpoint import atomic_write
from .errors import DatasetError, DatasetNotFoundError
from .imagenet import PAPER_SIZE, is_image_file, validate_image_folder

__all__ = ["convert_image", "read_devkit", "read_val_labels", "prepare", "main", "Task"]

_WNID = re.compile(r"^n\d{8}$")
_VAL_NUMBER = re.compile(r"ILSVRC2012_val_(\d+)")
_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"


# --------------------------------------------------------------------------- one image


def convert_image(data: bytes, size: int = PAPER_SIZE, quality: int = 95) -> tuple[bytes, dict[str, Any]]:
    """Decode any image, make it RGB, rescale the shorter side to ``size``, cut the central square.

    Returns the JPEG bytes and what was found: ``format`` (as stored, whatever the file name
    says), ``mode`` (``RGB``, ``CMYK``, ``L`` = grayscale, ...) and the original ``width`` and
    ``height``. Raises ``OSError``/``ValueError`` from Pillow for files that cannot be decoded.
    """
    with Image.open(io.BytesIO(data)) as image:
        fmt, mode, (width, height) = image.format, image.mode, image.size
        if fmt == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale where the result stays >= size on both
            # sides: several times faster for large photographs, then resized properly below.
            image.draft("RGB", (size, size))
        image.load()
        rgb = image.convert("RGBA").convert("RGB") if image.mode == "P" else image.convert("RGB")
    w, h = rgb.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = int(round((new_w - size) / 2.0)), int(round((new_h - size) / 2.0))  # as CenterCrop
    rgb = rgb.crop((left, top, left + size, top + size))
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=quality)
    return out.getvalue(), {"format": fmt, "mode": mode, "width": width, "height": height}


# --------------------------------------------------------------------------- labels


def _open_devkit_file(devkit: Path, name: str) -> bytes:
    """Read ``data/<name>`` from the devkit folder or its .tar.gz."""
    if devkit.is_dir():
        for candidate in (devkit / "data" / name, devkit / name,
                          *devkit.glob(f"*/data/{name}")):
            if candidate.is_file():
                return candidate.read_bytes()
        raise DatasetNotFoundError(f"{name} not found in the devkit folder {devkit} (expected "
                                   f"{devkit}/data/{name}, as ILSVRC2012_devkit_t12.tar.gz unpacks)")
    if not devkit.is_file():
        raise DatasetNotFoundError(f"devkit not found: {devkit}. Download ILSVRC2012_devkit_t12.tar.gz "
                                   "from image-net.org (see data/README.md)")
    try:
        with tarfile.open(devkit) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(f"data/{name}"):
                    f = tar.extractfile(member)
                    assert f is not None
                    return f.read()
    except tarfile.TarError as err:
        raise DatasetError(f"cannot read the devkit archive {devkit}: {err}") from err
    raise DatasetNotFoundError(f"data/{name} not found in the devkit archive {devkit}")


def read_devkit(devkit: str | Path) -> dict[int, str]:
    """Validation image number (1-based) -> WordNet id, from the ILSVRC2012 devkit.

    ``data/meta.mat`` (a MATLAB file: read with ``scipy.io.loadmat``) lists the synsets; the
    1000 leaf synsets (``num_children == 0``) carry the class ids 1..1000 used by the ground
    truth file, whose line ``i`` is the class id of ``ILSVRC2012_val_<i>.JPEG``.
    """
    from scipy.io import loadmat

    devkit = Path(devkit)
    meta = loadmat(io.BytesIO(_open_devkit_file(devkit, "meta.mat")), squeeze_me=True)
    if "synsets" not in meta:
        raise DatasetError(f"meta.mat in {devkit} has no 'synsets' table: not the ILSVRC2012 devkit?")
    id_to_wnid = {}
    for row in meta["synsets"]:
        if int(row["num_children"]) == 0:  # a leaf: one of the 1000 classes
            id_to_wnid[int(row["ILSVRC2012_ID"])] = str(row["WNID"])
    lines = _open_devkit_file(devkit, _GROUND_TRUTH).decode().split()
    labels = {}
    for number, text in enumerate(lines, 1):
        class_id = int(text)
        if class_id not in id_to_wnid:
            raise DatasetError(f"{_GROUND_TRUTH} line {number}: class id {class_id} is not a leaf "
                               f"synset of meta.mat ({len(id_to_wnid)} leaf classes)")
        labels[number] = id_to_wnid[class_id]
    return labels


def read_val_labels(path: str | Path) -> dict[str, str]:
    """File name -> WordNet id from a text file of ``<file name> <wnid>`` lines, or from Kaggle's
    ``LOC_val_solution.csv`` (``ImageId,PredictionString`` whose first word is the wnid)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"validation labels file not found: {path}")
    text = path.read_text()
    labels = {}
    if text.startswith("ImageId,"):
        for row in csv.DictReader(io.StringIO(text)):
            labels[Path(row["ImageId"]).stem] = row["PredictionString"].split()[0]
    else:
        for number, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not _WNID.match(parts[1]):
                raise DatasetError(f"{path} line {number}: expected '<file name> <wnid>', got {line!r}")
            labels[Path(parts[0]).stem] = parts[1]
    return labels


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """A batch of images for one worker: from a folder, a tar file, or a tar inside a tar.

    ``members`` are file paths (folder), member names (tar), or None for "all of the tar".
    ``labels`` (val) maps each member to its wnid; for train the wnid is ``wnid``.
    """

    split: str
    source: str  # "files", "tar" or "tar-in-tar"
    container: str  # the folder / tar path / outer tar path
    wnid: str | None = None
    members: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    offset: int = 0  # tar-in-tar: where the inner tar's bytes start in the outer one
    length: int = 0


def _images_of(task: Task) -> Iterator[tuple[str, bytes]]:
    """(member, bytes) of every image of a task; a member is a file path or a name in the tar."""
    if task.source == "files":
        assert task.members is not None
        for p in task.members:
            yield p, Path(p).read_bytes()
        return
    if task.source == "tar":
        tar = tarfile.open(task.container)
    else:
        with open(task.container, "rb") as f:
            f.seek(task.offset)
            tar = tarfile.open(fileobj=io.BytesIO(f.read(task.length)))
    wanted = set(task.members) if task.members is not None else None
    with tar:
        for member in tar:
            if not member.isfile() or not is_image_file(member.name):
                continue
            if wanted is not None and member.name not in wanted:
                continue
            f = tar.extractfile(member)
            assert f is not None
            yield member.name, f.read()


def _run_task(task: Task, out: str, size: int, quality: int, overwrite: bool) -> dict[str, Any]:
    """Convert the images of one task; returns counts and the lists of odd and failed files."""
    result: dict[str, Any] = {"split": task.split, "written": 0, "existing": 0, "failed": [],
                              "png": [], "cmyk": [], "grayscale": [], "other": []}
    label_of = dict(zip(task.members or (), task.labels or (), strict=False))
    for member, data in _images_of(task):
        name = Path(member).name
        wnid = task.wnid or label_of[member]
        target = Path(out) / task.split / wnid / (Path(name).stem + ".JPEG")
        if target.exists() and not overwrite:
            result["existing"] += 1
            continue
        try:
            jpeg, info = convert_image(data, size, quality)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            result["failed"].append(f"{name}: {type(err).__name__}: {err}")
            continue
        if info["format"] != "JPEG":
            result["png" if info["format"] == "PNG" else "other"].append(f"{name} ({info['format']})")
        if info["mode"] == "CMYK":
            result["cmyk"].append(name)
        elif info["mode"] in ("L", "LA", "1", "I", "I;16"):
            result["grayscale"].append(name)
        elif info["mode"] not in ("RGB", "CMYK"):
            result["other"].append(f"{name} (mode {info['mode']})")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, jpeg)
        result["written"] += 1
    return result


def _train_tasks(train: Path, per_class: int | None) -> list[Task]:
    if not train.exists():
        raise DatasetNotFoundError(f"training images not found: {train}. Give ILSVRC2012_img_train.tar, "
                                   "the folder of its per-class tars, or a folder of <wnid>/ folders")
    tasks = []
    if train.is_file():
        try:
            with tarfile.open(train) as outer:
                for m in outer.getmembers():
                    if m.isfile() and m.name.endswith(".tar") and _WNID.match(Path(m.name).stem):
                        tasks.append(Task("train", "tar-in-tar", str(train), Path(m.name).stem,
                                          offset=m.offset_data, length=m.size))
        except tarfile.TarError as err:
            raise DatasetError(f"cannot read {train} as a tar archive: {err}") from err
        if not tasks:
            raise DatasetError(f"{train} holds no <wnid>.tar class archives: is it "
                               "ILSVRC2012_img_train.tar?")
    else:
        for entry in sorted(train.iterdir()):
            if entry.is_dir() and _WNID.match(entry.name):
                files = sorted(str(p) for p in entry.rglob("*") if p.is_file() and is_image_file(p.name))
                tasks.append(Task("train", "files", str(entry), entry.name, tuple(files)))
            elif entry.is_file() and entry.suffix == ".tar" and _WNID.match(entry.stem):
                tasks.append(Task("train", "tar", str(entry), entry.stem))
        if not tasks:
            raise DatasetError(f"no class folders (n01440764/ ...) or class archives (n01440764.tar "
                               f"...) in {train}")
    if per_class is not None:
        tasks = [_first_members(t, per_class) for t in tasks]
    return tasks


def _first_members(task: Task, n: int) -> Task:
    """The same task restricted to its first ``n`` images (sorted by name)."""
    if task.source == "files":
        members = tuple((task.members or ())[:n])
    elif task.source == "tar":
        with tarfile.open(task.container) as tar:
            members = tuple(sorted(m.name for m in tar if m.isfile() and is_image_file(m.name))[:n])
    else:
        with open(task.container, "rb") as f:
            f.seek(task.offset)
            with tarfile.open(fileobj=io.BytesIO(f.read(task.length))) as tar:
                members = tuple(sorted(m.name for m in tar if m.isfile() and is_image_file(m.name))[:n])
    return Task(task.split, task.source, task.container, task.wnid, members, None, task.offset,
                task.length)


def _val_tasks(val: Path, labels_by_number: dict[int, str] | None,
               labels_by_name: dict[str, str] | None, chunk: int = 500) -> list[Task]:
    if not val.exists():
        raise DatasetNotFoundError(f"validation images not found: {val}. Give ILSVRC2012_img_val.tar "
                                   "or the folder it unpacks to")
    if val.is_file():
        try:
            with tarfile.open(val) as tar:
                names = sorted(m.name for m in tar if m.isfile() and is_image_file(m.name))
        except tarfile.TarError as err:
            raise DatasetError(f"cannot read {val} as a tar archive: {err}") from err
        source, container = "tar", str(val)
    else:
        names = sorted(str(p) for p in val.iterdir() if p.is_file() and is_image_file(p.name))
        source, container = "files", str(val)
    if not names:
        raise DatasetError(f"no validation images in {val}")
    labels = []
    missing = []
    for name in names:
        stem = Path(name).stem
        wnid = None
        if labels_by_name is not None:
            wnid = labels_by_name.get(stem)
        elif labels_by_number is not None:
            match = _VAL_NUMBER.search(stem)
            wnid = labels_by_number.get(int(match.group(1))) if match else None
        if wnid is None:
            missing.append(Path(name).name)
        labels.append(wnid)
    if missing:
        raise DatasetError(f"{len(missing)} validation images have no label, e.g. {missing[:3]}: the "
                           "ground truth does not cover them (wrong devkit or labels file?)")
    return [Task("val", source, container, None, tuple(names[i:i + chunk]),
                 tuple(labels[i:i + chunk])) for i in range(0, len(names), chunk)]


# --------------------------------------------------------------------------- the command


def _summary(results: list[dict[str, Any]], split: str) -> dict[str, Any]:
    rows = [r for r in results if r["split"] == split]
    merged: dict[str, Any] = {"written": sum(r["written"] for r in rows),
                              "already_there": sum(r["existing"] for r in rows)}
    for key in ("png", "cmyk", "grayscale", "other", "failed"):
        merged[key] = sorted(x for r in rows for x in r[key])
    return merged


def _describe(split: str, s: dict[str, Any]) -> str:
    def names(items: list[str]) -> str:
        return (": " + ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")) if items else ""

    return (f"{split}: {s['written']:,} images written, {s['already_there']:,} already there; "
            f"converted to RGB JPEG: {len(s['png'])} PNG saved as .JPEG{names(s['png'])}; "
            f"{len(s['cmyk'])} CMYK{names(s['cmyk'])}; {len(s['grayscale'])} grayscale"
            f"{names(s['grayscale'])}; {len(s['other'])} other{names(s['other'])}; "
            f"{len(s['failed'])} could not be decoded and were left out{names(s['failed'])}")


def prepare(out: str | Path, train: str | Path | None = None, val: str | Path | None = None,
            devkit: str | Path | None = None, val_labels: str | Path | None = None,
            size: int = PAPER_SIZE, quality: int = 95, workers: int = 1,
            train_per_class: int | None = None, overwrite: bool = False, stats: bool = True,
            stats_images: int = 10_000, progress: bool = True) -> dict[str, Any]:
    """Convert the official layout into ``out/train/<wnid>/`` and ``out/val/<wnid>/``; returns the
    report (also written to ``out/prepare_report.json``). See the module docstring."""
    out = Path(out)
    if train is None and val is None:
        raise ValueError("nothing to do: give --train and/or --val")
    if val is not None and devkit is None and val_labels is None:
        raise ValueError("--val needs the classes of the validation images: --devkit "
                         "ILSVRC2012_devkit_t12.tar.gz or --val-labels FILE")
    if devkit is not None and val_labels is not None:
        raise ValueError("give either --devkit or --val-labels, not both")
    tasks: list[Task] = []
    if train is not None:
        tasks += _train_tasks(Path(train), train_per_class)
    if val is not None:
        by_number = read_devkit(devkit) if devkit is not None else None
        by_name = read_val_labels(val_labels) if val_labels is not None else None
        tasks += _val_tasks(Path(val), by_number, by_name)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    bar: Any = contextlib.nullcontext()
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="preparing", unit="task")
    with bar:
        if workers <= 1:
            for task in tasks:
                results.append(_run_task(task, str(out), size, quality, overwrite))
                if progress:
                    bar.update(1)
        else:
            with ProcessPoolExecutor(workers) as pool:
                futures = [pool.submit(_run_task, t, str(out), size, quality, overwrite) for t in tasks]
                for future in as_completed(futures):
                    results.append(future.result())
                    if progress:
                        bar.update(1)
    report: dict[str, Any] = {"out": str(out), "size": size, "quality": quality,
                              "seconds": round(time.perf_counter() - started, 1)}
    for split in ("train", "val"):
        if any(r["split"] == split for r in results):
            report[split] = _summary(results, split)
            print(_describe(split, report[split]))
    splits = [s for s in ("train", "val") if (out / s).is_dir()]
    summary = validate_image_folder(out, splits)
    report["classes"] = len(summary.classes)
    if stats and "train" in splits:
        from .pipeline import PipelineConfig, dataset_statistics

        target = out / f"stats_{size}.npz"
        config = PipelineConfig(dataset="imagenet", root=out, image_size=size, workers=workers)
        dataset_statistics(config, max_images=stats_images, progress=progress).save(target)
        report["stats"] = str(target)
        print(f"training-set mean image and RGB PCA: {target}")
    (out / "prepare_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{out}: {len(summary.classes)} classes ({', '.join(splits)}); report in "
          f"{out / 'prepare_report.json'}; train with: python -m alexnet_lib.train --data {out}")
    return report


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m alexnet_lib.data.prepare``."""
    p = argparse.ArgumentParser(
        prog="python -m alexnet_lib.data.prepare",
        description="Convert the official ILSVRC2012 archives into OUT/train/<wnid>/ and "
                    "OUT/val/<wnid>/ with every image rescaled (shorter side 256) and centre-"
                    "cropped to 256x256, as in the paper, once.",
        epilog="Example: python -m alexnet_lib.data.prepare --train ILSVRC2012_img_train.tar "
               "--val ILSVRC2012_img_val.tar --devkit ILSVRC2012_devkit_t12.tar.gz "
               "--out data/imagenet --workers 16")
    p.add_argument("--train", metavar="PATH",
                   help="ILSVRC2012_img_train.tar, a folder of its <wnid>.tar files, or a folder of "
                        "<wnid>/ image folders")
    p.add_argument("--val", metavar="PATH",
                   help="ILSVRC2012_img_val.tar or the flat folder it unpacks to")
    p.add_argument("--devkit", metavar="PATH",
                   help="ILSVRC2012_devkit_t12.tar.gz or its folder (meta.mat and the validation "
                        "ground truth)")
    p.add_argument("--val-labels", metavar="FILE",
                   help="instead of --devkit: lines '<file name> <wnid>' or Kaggle's LOC_val_solution.csv")
    p.add_argument("--out", default="data/imagenet", help="output folder (default: data/imagenet)")
    p.add_argument("--size", type=int, default=PAPER_SIZE,
                   help="side of the stored square images in pixels (default: 256, the paper's)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality of the output (default: 95)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes converting images in parallel (default: one per CPU core)")
    p.add_argument("--train-per-class", type=int, default=None,
                   help="only the first N training images of each class, for a quick subset "
                        "(default: all)")
    p.add_argument("--overwrite", action="store_true",
                   help="convert again images that are already in OUT (default: keep them, so an "
                        "interrupted run continues)")
    p.add_argument("--no-stats", dest="stats", action="store_false",
                   help="do not compute the training set's mean image and RGB PCA at the end")
    p.add_argument("--stats-images", type=int, default=10_000,
                   help="training images used for those statistics (default: 10000)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m alexnet_lib.data.prepare``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.size < 1 or not 1 <= args.quality <= 100 or args.workers < 1:
        parser.error("--size and --workers must be positive and --quality in 1..100")
    try:
        report = prepare(args.out, args.train, args.val, args.devkit, args.val_labels, args.size,
                         args.quality, args.workers, args.train_per_class, args.overwrite,
                         args.stats, args.stats_images, args.progress)
    except ValueError as err:  # includes DatasetError
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = sum(len(report[s]["failed"]) for s in ("train", "val") if s in report)
    if failed:
        print(f"warning: {failed} files could not be decoded and were left out (listed in "
              f"{Path(args.out) / 'prepare_report.json'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
