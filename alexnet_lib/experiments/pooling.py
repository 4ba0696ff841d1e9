"""Overlapping pooling, measured: a small AlexNet with z=3, s=2 pooling against z=2, s=2.

Defined in the book's chapter "Overlapping pooling" (paper Section 3.4; claim 3).

The paper: pooling windows of size z=3 with stride s=2 (so neighbouring windows overlap by one
pixel) instead of the traditional z=s=2 "reduces the top-1 and top-5 error rates by 0.4% and
0.3%", and "models with overlapping pooling find it slightly more difficult to overfit".

Here :class:`~alexnet_lib.AlexNet` is trained twice from the same seed, once with each
``pooling`` switch, at a CPU-sized width on 64x64 images. LRN and dropout are off so that
pooling is the only difference (each has its own chapter). At this size the deep, narrow network
does not train from the paper's N(0, 0.01) initialisation or PyTorch's default within the
budget, so the weights start from He initialisation and the inputs are standardised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import AlexNet
from .common import ExperimentConfig, ExperimentResult, arg, describe_scale
from .loop import History, TensorData, fixed_threads, paired_difference, train, wrong_per_image
from .nets import initialise
from .records import Record

__all__ = ["PoolingConfig", "run", "records", "small_alexnet", "POOLINGS", "map_sizes"]

NAME = "pooling"
POOLINGS = ("overlapping", "non-overlapping")


@dataclass
class PoolingConfig(ExperimentConfig):
    """The book's run: 2,000 built-in 64x64 images, AlexNet at width 0.25, 15 epochs."""

    n_train: int | None = arg(2000, "training images (for cifar10 omit for all 50,000)")
    n_test: int | None = arg(1000, "test images")
    image_size: int = arg(64, "side of the input images in pixels (AlexNet needs >= 64)")
    epochs: int = arg(15, "passes over the training set")
    preprocess: str = arg("standardize", "inputs: 'paper' (pixels 0..255 minus the mean image), "
                                         "'unit' (pixels in [0, 1] minus the mean image) or "
                                         "'standardize' (also divided by the per-channel std)")
    width: float = arg(0.25, "AlexNet's width multiplier on every conv layer's kernels")
    hidden: int = arg(256, "units in fc6 and fc7 (4096 in the paper)")
    init: str = arg("he", "initial weights: 'he', 'paper' (N(0, 0.01), bias 1 in conv2/4/5, "
                          "fc6/7), 'caffe' or 'torch'")
    lrn: str | None = arg(None, "AlexNet's LRN switch: 'paper', 'caffe' or omitted for none")
    dropout: float = arg(0.0, "AlexNet's dropout on fc6/fc7 (the paper's 0.5)")

    @classmethod
    def cifar10_overrides(cls) -> dict[str, Any]:
        return {"epochs": 30}


def small_alexnet(image_size: int, width: float, hidden: int, init: str = "he",
                  **switches: Any) -> AlexNet:
    """A CPU-sized ``AlexNet``: ``width`` times the paper's kernels, ``hidden`` units in
    fc6/fc7, ``init`` one of AlexNet's schemes or ``"he"`` (PyTorch's layers re-initialised by
    :func:`~alexnet_lib.experiments.nets.initialise`); ``switches`` are AlexNet's other arguments
    (``pooling``, ``lrn``, ``dropout``, ...; ``num_classes`` is 10 unless given)."""
    kwargs = dict(num_classes=10, width=width, hidden=hidden, input_size=image_size) | switches
    if init == "he":
        return initialise(AlexNet(**kwargs, init="torch"), "he")
    return AlexNet(**kwargs, init=init)


def map_sizes(image_size: int, pooling: str) -> dict[str, int]:
    """Side of each pooled map of AlexNet for an input of ``image_size`` (pool1, pool2, pool5)."""
    net = AlexNet(num_classes=10, width=0.1, hidden=8, pooling=pooling, input_size=image_size,
                  init="torch")
    return {r.name: r.output_shape[1] for r in net.layer_table() if r.kind == "MaxPool2d"}


def run(config: PoolingConfig | None = None, data: TensorData | None = None,
        progress: bool = False) -> ExperimentResult:
    """Train the small AlexNet with overlapping and with non-overlapping pooling."""
    config = config or PoolingConfig()
    data = data if data is not None else config.load()
    runs: dict[str, History] = {}
    models = {}
    for pooling in POOLINGS:

        def make(pooling: str = pooling) -> AlexNet:
            return small_alexnet(data.image_size, config.width, config.hidden, config.init,
                                 pooling=pooling, lrn=config.lrn, dropout=config.dropout)

        models[pooling], runs[pooling] = train(make, data, config.train_config(), pooling, progress)
    _, test_x = data.inputs(config.preprocess)
    with fixed_threads(config.threads):
        wrong = {p: wrong_per_image(m, test_x, data.test_y) for p, m in models.items()}
    te = {p: float(w.double().mean()) for p, w in wrong.items()}
    tr = {p: h.train_error[-1] for p, h in runs.items()}
    diff, se = paired_difference(wrong["overlapping"], wrong["non-overlapping"])
    summary = {
        "test_error": te,
        "train_error": tr,
        "gap": {p: te[p] - tr[p] for p in POOLINGS},
        "overlap_better_by": {"difference": diff, "standard_error": se},
        "n_test": len(test_x),
        "map_sizes": {p: map_sizes(data.image_size, p) for p in POOLINGS},
        "seconds_per_epoch": {p: h.seconds_per_epoch for p, h in runs.items()},
    }
    net = models["overlapping"]
    network = (f"AlexNet, width {config.width:g} (conv {'-'.join(map(str, net.config['channels']))}),"
               f" fc {config.hidden}, LRN {config.lrn}, dropout {config.dropout:g}, init "
               f"{config.init!r}, inputs {config.preprocess!r}")
    return ExperimentResult(NAME, config.to_dict(), describe_scale(data, network, config), runs,
                            summary, models)


def records(result: ExperimentResult, command: str = "", commit: str = "") -> list[Record]:
    """Claim 3's two parts: lower error, and harder to overfit (a smaller train/test gap).

    Status rules, fixed in advance: the error part is "reproduced" if overlapping pooling's test
    error is lower by more than two standard errors of the paired difference; the overfitting
    part if its gap (final test minus training error) is the smaller one.
    """
    s = result.summary
    te, gap, better = s["test_error"], s["gap"], s["overlap_better_by"]
    common = dict(claim=3, scale=result.scale, experiment=NAME, notebook="book/pooling.ipynb",
                  command=command, commit=commit)
    d, se = better["difference"], better["standard_error"]
    return [
        Record(claim_text="Overlapping pooling (z=3, s=2) instead of z=2, s=2 reduces the error",
               paper="top-1 / top-5 error down 0.4% / 0.3% (ImageNet)",
               ours=f"test error {te['overlapping']:.1%} overlapping vs {te['non-overlapping']:.1%}"
                    f" non-overlapping: lower by {d * 100:+.1f} +- {se * 100:.1f} points (paired, "
                    f"{s['n_test']:,} test images, one seed)",
               status="reproduced" if d > 2 * se else "not reproduced at this scale",
               values={"test_error": te, "overlap_better_by": better}, **common),
        Record(claim_text="Models with overlapping pooling find it slightly more difficult to "
                          "overfit",
               paper="'slightly more difficult to overfit' (no number given)",
               ours=f"test minus training error {gap['overlapping']:.1%} overlapping vs "
                    f"{gap['non-overlapping']:.1%} non-overlapping",
               status=("reproduced" if gap["overlapping"] < gap["non-overlapping"]
                       else "not reproduced at this scale"),
               values={"gap": gap, "train_error": s["train_error"]}, **common),
    ]
