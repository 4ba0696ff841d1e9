"""The augmentation experiment: crops and flips, PCA lighting and 10-patch testing, measured.

Defined in the book's chapter "Data and PCA colour augmentation"; ``python -m
alexnet_lib.experiments.augmentation`` runs the same experiment from the command line.

Three copies of a small AlexNet, built from the same seed (so with the same initial weights) and
shown the same mini-batches in the same order, differ only in what is done to each mini-batch:

* ``none``: the centre ``crop`` x ``crop`` patch of every image, always the same;
* ``crops+flips``: a random patch and a random horizontal flip per image and step (Section 4.1,
  first form);
* ``crops+flips+PCA``: the same, plus the PCA colour shift (second form), with the training
  set's RGB eigen-decomposition in [0, 1] units and ``alpha ~ N(0, 0.1)``.

Images are ``image_size`` pixels and patches ``crop`` pixels (72 -> 64 by default, the paper's
256 -> 224 scaled down; AlexNet's layers need at least 63 pixels). As in the pooling and dropout
chapters, the nets start from He initialisation and see standardised inputs (the mean image
subtracted, each channel divided by its standard deviation): from PyTorch's default or the
paper's N(0, 0.01) this quarter-width eight-layer net stays at chance for the whole budget.
The PCA shift is computed in [0, 1] pixel units and divided by the same per-channel standard
deviations, so it is the paper's shift expressed in the inputs' units. Each net is evaluated on the
centre patch and on the average of the ten patches' softmax. Comparisons between two nets use the
same test images, so their standard error is the paired one: sqrt(b + c) / n with b and c the
images only one of the two gets wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..augment import (
    PCALighting,
    center_crop,
    predict_patches,
    random_crop_flip,
    rgb_covariance_eig,
    translations,
)
from ..model import AlexNet
from . import pooling
from .datasets import builtin_data
from .loop import (
    History,
    TensorData,
    TrainConfig,
    fixed_threads,
    paired_difference,
    train,
    wrong_per_image,
)
from .records import RESULTS_DIR, Record, git_commit, result_path, save_result

__all__ = ["ARMS", "PREPROCESS", "small_alexnet", "channel_std", "train_augmented",
           "errors_per_image", "paired_difference", "augmentation_experiment",
           "augmentation_records", "experiment_parser", "run"]

ARMS: dict[str, tuple[bool, bool]] = {  # name: (random crops and flips, PCA lighting)
    "none": (False, False),
    "crops+flips": (True, False),
    "crops+flips+PCA": (True, True),
}
NOTEBOOK = "book/augmentation.ipynb"
COMMAND = "python -m alexnet_lib.experiments.augmentation"


PREPROCESS = "standardize"  # the inputs of every net here (see TensorData.inputs)


def small_alexnet(crop: int = 64, width: float = 0.25, hidden: int = 256, **switches) -> AlexNet:
    """The book's CPU-sized AlexNet for 10 classes: every layer and switch of the paper's (two
    columns, LRN on each column's maps, dropout 0.5), a quarter of the kernels, He-initialised
    (:func:`.pooling.small_alexnet`); ``switches`` are AlexNet's other arguments."""
    return pooling.small_alexnet(crop, width, hidden, "he", **switches)


def channel_std(data: TensorData) -> Tensor:
    """(3,) standard deviation per channel of the training inputs in [0, 1] units, mean image
    subtracted: what ``TensorData.inputs("standardize")`` divides by."""
    train, _ = data.inputs("unit")
    return train.std(dim=(0, 2, 3))


def errors_per_image(model: nn.Module, x: Tensor, y: Tensor, crop: int, ten: bool = False,
                     batch_size: int = 250) -> Tensor:
    """A bool per image: wrong on the centre patch (or on the 10-patch average if ``ten``)."""
    return wrong_per_image(model, x, y, batch_size,
                           predict=lambda m, xb: predict_patches(m, xb, crop, ten))


def train_augmented(
    make_model: Callable[[], nn.Module],
    data: TensorData,
    crop: int,
    config: TrainConfig,
    crops_flips: bool = True,
    lighting: PCALighting | None = None,
    label: str = "",
    progress: bool = False,
) -> tuple[nn.Module, History]:
    """Train with the paper's optimiser on ``data`` (:func:`~.loop.train`), augmenting every
    mini-batch on the fly.

    The inputs are the images minus the training set's mean image (the paper subtracts it before
    cropping), prepared as ``config.preprocess`` says (the experiments here: :data:`PREPROCESS`).
    Each step takes random patches and flips (``crops_flips``) or the centre patch, then adds the
    PCA colour shift (``lighting``, in the inputs' units). Runs that differ only in augmentation
    start from the same weights and see the same batches; with and without ``lighting`` they
    also get the same crops and flips (the shifts have their own generator). Per epoch, the
    errors are measured on the centre patches (train set in eval mode, and test set).
    """

    # The colour shifts draw from a generator of their own, so that adding PCA lighting leaves
    # every crop and flip as it was: two arms then differ in the shift alone.
    light_rng = torch.Generator().manual_seed(config.seed + 2)

    def augment(xb: Tensor, generator: torch.Generator) -> Tensor:
        xb = random_crop_flip(xb, crop, generator) if crops_flips else center_crop(xb, crop)
        return lighting(xb, light_rng) if lighting is not None else xb

    return train(make_model, data, config, label, progress, augment=augment,
                 view=lambda x: center_crop(x, crop))


def training_setup(data: TensorData, image_size: int, crop: int, epochs: int, batch_size: int,
                   lr: float, lr_drops: tuple[int, ...], weight_decay: float, seed: int,
                   **extra: object) -> tuple[TrainConfig, dict]:
    """The :class:`TrainConfig` this experiment and the two-column and depth ones train with
    (momentum 0.9, :data:`PREPROCESS` inputs), and its JSON description with ``extra`` fields."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, momentum=0.9,
                         weight_decay=weight_decay, seed=seed, preprocess=PREPROCESS,
                         lr_drops=tuple(lr_drops))
    described = dict(n_train=len(data.train_x), n_test=len(data.test_x), image_size=image_size,
                     crop=crop, epochs=epochs, batch_size=batch_size, lr=lr, lr_drops=list(lr_drops),
                     weight_decay=weight_decay, seed=seed, init="he", preprocess=PREPROCESS, **extra)
    return config, described


def augmentation_experiment(
    n_train: int = 2000,
    n_test: int = 1000,
    image_size: int = 72,
    crop: int = 64,
    epochs: int = 90,
    batch_size: int = 32,
    lr: float = 0.01,
    lr_drops: tuple[int, ...] = (60, 80),
    weight_decay: float = 5e-4,
    seed: int = 0,
    pca_std: float = 0.1,
    arms: tuple[str, ...] = tuple(ARMS),
    data: TensorData | None = None,
    progress: bool = False,
) -> dict:
    """Train one small AlexNet per arm of :data:`ARMS` and measure centre and 10-patch errors.

    Returns a plain dict (JSON-ready): the configuration, the training set's RGB eigenvalues and
    eigenvectors ([0, 1] units), and per arm its per-epoch history, final centre-patch and
    10-patch test errors and the per-image mistakes behind them; plus the paired differences
    the chapter and the records discuss.
    """
    data = data or builtin_data(n_train, n_test, image_size, seed)
    values, vectors = rgb_covariance_eig(data.train_x.float().div(255))
    std = channel_std(data)
    config, described = training_setup(data, image_size, crop, epochs, batch_size, lr, lr_drops,
                                       weight_decay, seed, pca_std=pca_std,
                                       model=dict(small_alexnet(crop).config))
    result: dict = {
        "config": described,
        "data": data.description,
        "channel_std": std.tolist(),
        "eigenvalues": values.tolist(),
        "eigenvectors": vectors.tolist(),
        "arms": {},
    }
    _, test_x = data.inputs(PREPROCESS)
    wrong: dict[str, dict[str, Tensor]] = {}
    for name in arms:
        crops_flips, pca = ARMS[name]
        # The paper's shift in [0, 1] units, expressed in the standardised inputs' units.
        lighting = PCALighting(values, vectors / std[:, None], std=pca_std) if pca else None
        model, hist = train_augmented(lambda: small_alexnet(crop), data, crop, config,
                                      crops_flips=crops_flips, lighting=lighting, label=name,
                                      progress=progress)
        with fixed_threads(config.threads):
            centre = errors_per_image(model, test_x, data.test_y, crop)
            ten = errors_per_image(model, test_x, data.test_y, crop, ten=True)
        wrong[name] = {"centre": centre, "ten": ten}
        result["arms"][name] = {
            "history": hist.to_dict(),
            "test_error_centre": float(centre.double().mean()),
            "test_error_ten_crop": float(ten.double().mean()),
            "train_error_centre": hist.train_error[-1],
            "wrong_centre": centre.int().tolist(),
            "wrong_ten_crop": ten.int().tolist(),
        }
    comparisons = {}

    def compare(key: str, a: tuple[str, str], b: tuple[str, str]) -> None:
        if a[0] in wrong and b[0] in wrong:
            diff, se = paired_difference(wrong[a[0]][a[1]], wrong[b[0]][b[1]])
            comparisons[key] = {"difference": diff, "standard_error": se,
                                "a": f"{a[0]} ({a[1]})", "b": f"{b[0]} ({b[1]})"}

    compare("crops_flips_vs_none", ("none", "centre"), ("crops+flips", "centre"))
    compare("pca_vs_crops_flips", ("crops+flips", "centre"), ("crops+flips+PCA", "centre"))
    compare("ten_vs_centre", ("crops+flips", "centre"), ("crops+flips", "ten"))
    compare("ten_vs_centre_pca", ("crops+flips+PCA", "centre"), ("crops+flips+PCA", "ten"))
    result["comparisons"] = comparisons
    return result


def _verdict(diff: float, se: float) -> str:
    """The records' rule, fixed before any run: an improvement larger than two paired standard
    errors is 'reproduced'; anything else is 'not reproduced at this scale'."""
    return "reproduced" if -diff > 2 * se else "not reproduced at this scale"


def augmentation_records(result: dict, command: str = COMMAND) -> list[Record]:
    """The records (claims 4 and 5) of a result of :func:`augmentation_experiment`."""
    cfg = result["config"]
    arms = result["arms"]
    cmp = result["comparisons"]
    scale = (f"{result['data']}; random {cfg['crop']}x{cfg['crop']} patches of "
             f"{cfg['image_size']}x{cfg['image_size']}; small AlexNet (width 0.25, fc 256, He init, "
             f"standardised inputs), {cfg['epochs']} epochs, seed {cfg['seed']}, CPU")
    commit = git_commit()
    common = dict(scale=scale, experiment="augmentation", notebook=NOTEBOOK, command=command,
                  commit=commit)

    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    records = []
    c = cmp["crops_flips_vs_none"]
    none, cf = arms["none"], arms["crops+flips"]
    records.append(Record(
        claim=4, claim_text="random 224x224 crops of 256x256 images plus horizontal flips "
        "(x2048 training patches) reduce overfitting",
        paper="without it the network suffers from substantial overfitting (no number given)",
        ours=(f"test error {pct(none['test_error_centre'])} without, "
              f"{pct(cf['test_error_centre'])} with crops+flips "
              f"(difference {100 * c['difference']:+.1f} +- {100 * c['standard_error']:.1f} points); "
              f"train-test gap {pct(none['test_error_centre'] - none['train_error_centre'])} vs "
              f"{pct(cf['test_error_centre'] - cf['train_error_centre'])}"),
        status=_verdict(c["difference"], c["standard_error"]),
        values={"test_error_none": none["test_error_centre"],
                "test_error_crops_flips": cf["test_error_centre"],
                "train_error_none": none["train_error_centre"],
                "train_error_crops_flips": cf["train_error_centre"],
                "difference": c["difference"], "standard_error": c["standard_error"],
                "patches_per_image_paper": 2048,
                "patches_per_image_256_224": translations(256, 224),
                "patches_per_image_here": translations(cfg["image_size"], cfg["crop"])},
        **common))
    t = cmp["ten_vs_centre"]
    records.append(Record(
        claim=4, claim_text="at test time, averaging the softmax over 10 patches (4 corners + "
        "centre, and their reflections)",
        paper="used for all reported results (no separate number given)",
        ours=(f"crops+flips net: centre patch {pct(cf['test_error_centre'])}, 10 patches "
              f"{pct(cf['test_error_ten_crop'])} (difference {100 * t['difference']:+.1f} +- "
              f"{100 * t['standard_error']:.1f} points)"),
        status=_verdict(t["difference"], t["standard_error"]),
        values={"centre": cf["test_error_centre"], "ten_crop": cf["test_error_ten_crop"],
                "difference": t["difference"], "standard_error": t["standard_error"]},
        **common))
    p = cmp["pca_vs_crops_flips"]
    pca = arms["crops+flips+PCA"]
    records.append(Record(
        claim=5, claim_text="PCA colour augmentation (alpha ~ N(0, 0.1) along the RGB principal "
        "components) lowers top-1 error",
        paper="top-1 error down by over 1%",
        ours=(f"test error {pct(cf['test_error_centre'])} without, "
              f"{pct(pca['test_error_centre'])} with PCA lighting (difference "
              f"{100 * p['difference']:+.1f} +- {100 * p['standard_error']:.1f} points)"),
        status=_verdict(p["difference"], p["standard_error"]),
        values={"test_error_without": cf["test_error_centre"],
                "test_error_with": pca["test_error_centre"], "difference": p["difference"],
                "standard_error": p["standard_error"], "eigenvalues": result["eigenvalues"]},
        **common))
    return records


def _drops(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated epochs, e.g. 60,80; got {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def experiment_parser(description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The flags the augmentation and two-column experiments share (their book presets as
    defaults)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--epochs", type=_positive, default=90,
                        help="passes over the training set (90)")
    parser.add_argument("--lr-drops", type=_drops, default=(60, 80), metavar="E1,E2",
                        help="epochs after which the learning rate is divided by 10 (60,80; "
                             "'' for none)")
    parser.add_argument("--n-train", type=_positive, default=2000,
                        help="built-in training images (2000)")
    parser.add_argument("--n-test", type=_positive, default=1000, help="built-in test images (1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, weights and batches")
    parser.add_argument("--out", default=str(RESULTS_DIR),
                        help="folder for the JSON result (default: the book's book/results)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")
    return parser


def run_command_line(name: str, description: str, command: str, experiment: Callable[..., dict],
                     make_records: Callable[..., list[Record]], argv: list[str] | None = None,
                     prog: str | None = None) -> None:
    """The command line of this experiment and the two-column one: parse the flags, run
    ``experiment``, save its result and ``make_records``' records as ``OUT/<name>.json``."""
    argv = sys.argv[1:] if argv is None else argv
    args = experiment_parser(description, prog or command).parse_args(argv)
    result = experiment(n_train=args.n_train, n_test=args.n_test, epochs=args.epochs,
                        lr_drops=args.lr_drops, seed=args.seed, progress=args.progress)
    records = make_records(result, command=" ".join([command, *argv]))
    path = save_result(result_path(args.out, name), name, "builtin", result["config"], result,
                       records, threads=TrainConfig.threads)  # the runs' TrainConfig default
    for r in records:
        print(f"claim {r.claim}: {r.status}: {r.ours}")
    print(f"wrote {path}")


def run(argv: list[str] | None = None, prog: str | None = None) -> None:
    """Command line: run the experiment and save its result and records as JSON."""
    run_command_line("augmentation", __doc__.split("\n")[0], COMMAND, augmentation_experiment,
                     augmentation_records, argv, prog)


if __name__ == "__main__":
    run()
