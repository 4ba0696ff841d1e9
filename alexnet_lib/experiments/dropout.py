"""Dropout, measured: a small AlexNet with and without dropout on a small training set.

Defined in the book's chapter "Dropout" (paper Section 4.2; claim 6).

The paper: dropout (probability 0.5) on the outputs of fc6 and fc7; "without dropout, our
network exhibits substantial overfitting. Dropout roughly doubles the number of iterations
required to converge." At test time "we use all the neurons but multiply their outputs by 0.5".

:func:`run` trains :class:`~alexnet_lib.AlexNet` twice from the same seed, ``dropout=0`` and
``dropout=0.5``, on few training images so that overfitting shows within a CPU budget, and records
training error (dropout off, a clean pass) and test error every epoch. "Iterations to converge" is
measured as the epochs each run needs to bring its training error down to a target.

The library uses PyTorch's *inverted* dropout (scale the kept units by 1/(1-p) while training,
nothing at test time). :class:`PaperDropout` is the paper's version, and
:func:`to_paper_dropout` turns a trained network into the equivalent paper-style one (the layer
after each dropout gets its weights times 1/(1-p)), so :func:`check_equivalence` can show that the
two compute the same function, in training (same mask) and at test time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .common import ExperimentConfig, ExperimentResult, arg, describe_scale
from .loop import History, TensorData, epochs_to_reach, fixed_threads, train
from .lrn import tail_mean
from .pooling import small_alexnet
from .records import Record

__all__ = ["DropoutConfig", "PaperDropout", "to_paper_dropout", "check_equivalence",
           "mc_dropout_agreement", "run", "records"]

NAME = "dropout"


@dataclass
class DropoutConfig(ExperimentConfig):
    """The book's run: 500 built-in 64x64 images, AlexNet at width 0.25 with fc 512, 60 epochs."""

    n_train: int | None = arg(500, "training images: few, so that overfitting shows")
    n_test: int | None = arg(500, "test images")
    image_size: int = arg(64, "side of the input images in pixels (AlexNet needs >= 64)")
    epochs: int = arg(60, "passes over the training set")
    batch_size: int = arg(32, "images per SGD step")
    preprocess: str = arg("standardize", "inputs: 'paper' (pixels 0..255 minus the mean image), "
                                         "'unit' (pixels in [0, 1] minus the mean image) or "
                                         "'standardize' (also divided by the per-channel std)")
    width: float = arg(0.25, "AlexNet's width multiplier on every conv layer's kernels")
    hidden: int = arg(512, "units in fc6 and fc7 (4096 in the paper)")
    init: str = arg("he", "initial weights: 'he', 'paper', 'caffe' or 'torch'")
    lrn: str | None = arg(None, "AlexNet's LRN switch: 'paper', 'caffe' or omitted for none")
    p: float = arg(0.5, "dropout probability of the run with dropout (the paper's 0.5)")
    target: float = arg(0.5, "training error that counts as 'converged' for the iterations claim")

    @classmethod
    def cifar10_overrides(cls) -> dict[str, Any]:
        return {"n_train": 5000, "n_test": 10000, "epochs": 100, "target": 0.2}


class PaperDropout(nn.Module):
    """The paper's dropout: zero each unit with probability ``p`` while training (no rescaling),
    multiply every unit by ``1 - p`` at test time ("multiply their outputs by 0.5")."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return x * (torch.rand_like(x) >= self.p)
        return x * (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def to_paper_dropout(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with each ``nn.Dropout`` (inverted) replaced by :class:`PaperDropout`
    and the next ``nn.Linear``'s weights divided by ``1 - p``: the same function, paper-style.

    Training: inverted dropout passes ``m * a / (1 - p)`` to ``W``; the paper's passes ``m * a``
    to ``W / (1 - p)``: equal. Test: inverted passes ``a`` to ``W``; the paper's passes
    ``(1 - p) * a`` to ``W / (1 - p)``: equal.
    """
    paper = copy.deepcopy(model)
    for seq in paper.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for i, name in enumerate(names):
            drop = seq._modules[name]
            if isinstance(drop, nn.Dropout):
                nxt = next((seq._modules[n] for n in names[i + 1:]
                            if isinstance(seq._modules[n], nn.Linear)), None)
                if nxt is None:
                    raise ValueError(f"dropout {name!r} is not followed by a Linear layer")
                with torch.no_grad():
                    nxt.weight.div_(1.0 - drop.p)
                seq._modules[name] = PaperDropout(drop.p)
    return paper


@torch.no_grad()
def check_equivalence(model: nn.Module, x: Tensor, seed: int = 0) -> dict[str, float]:
    """Largest output differences between ``model`` (inverted dropout) and its paper-style twin.

    ``eval``: both in eval mode (the paper's x(1-p) at test time against nothing at all).
    ``train``: both in training mode with the same masks: the masks ``nn.Dropout`` drew in
    ``model`` (where its output is non-zero) are replayed in the twin's :class:`PaperDropout`
    layers, which then keep those units unscaled. Also returns the largest output, for scale.
    """
    paper = to_paper_dropout(model)
    was_training = model.training
    model.eval()
    paper.eval()
    out = model(x)
    eval_diff = float((out - paper(x)).abs().max())
    model.train()
    paper.train()
    masks: list[Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: masks.append(o != 0))
             for m in model.modules() if isinstance(m, nn.Dropout)]
    torch.manual_seed(seed)
    inverted_out = model(x)
    for h in hooks:
        h.remove()
    replay = iter(masks)
    hooks = [m.register_forward_hook(lambda _m, i, _o: i[0] * next(replay))
             for m in paper.modules() if isinstance(m, PaperDropout)]
    paper_out = paper(x)
    for h in hooks:
        h.remove()
    model.train(was_training)
    return {"eval": eval_diff, "train": float((inverted_out - paper_out).abs().max()),
            "scale": float(out.abs().max())}


@torch.no_grad()
def mc_dropout_agreement(model: nn.Module, x: Tensor, y: Tensor, samples: int = 50,
                         seed: int = 0) -> dict[str, float]:
    """The paper's justification for the test-time scaling: it approximates averaging the
    predictions of the many thinned networks dropout trains.

    Runs the fully-connected part of ``model`` (an AlexNet) ``samples`` times with random
    dropout masks and averages the softmax outputs, then compares with one deterministic pass
    (dropout off, i.e. test-time scaling). Returns both test errors and the fraction of images on
    which the two predict the same class.
    """
    was_training = model.training
    model.eval()
    feats = torch.flatten(model.features(x), 1)
    det = model.classifier(feats).argmax(1)
    torch.manual_seed(seed)
    for m in model.classifier.modules():
        if isinstance(m, nn.Dropout):
            m.train()
    probs = sum(model.classifier(feats).softmax(1) for _ in range(samples)) / samples
    model.train(was_training)
    mc = probs.argmax(1)
    return {"deterministic_error": float((det != y).double().mean()),
            "averaged_error": float((mc != y).double().mean()),
            "agreement": float((det == mc).double().mean()), "samples": samples}


def run(config: DropoutConfig | None = None, data: TensorData | None = None,
        progress: bool = False) -> ExperimentResult:
    """Train the small AlexNet without and with dropout; check the test-time equivalence."""
    config = config or DropoutConfig()
    data = data if data is not None else config.load()
    runs: dict[str, History] = {}
    models = {}
    arms = {"no dropout": 0.0, f"dropout {config.p:g}": config.p}
    for name, p in arms.items():

        def make(p: float = p) -> nn.Module:
            return small_alexnet(data.image_size, config.width, config.hidden, config.init,
                                 dropout=p, lrn=config.lrn)

        models[name], runs[name] = train(make, data, config.train_config(), name, progress)
    no, yes = runs["no dropout"], runs[f"dropout {config.p:g}"]
    to_target = {name: epochs_to_reach(h.train_error, config.target) for name, h in runs.items()}
    e_no, e_yes = to_target["no dropout"], to_target[f"dropout {config.p:g}"]
    _, test_x = data.inputs(config.preprocess)
    dropped = models[f"dropout {config.p:g}"]
    with fixed_threads(config.threads):
        equivalence = check_equivalence(dropped, test_x[:100], seed=config.seed)
        mc = mc_dropout_agreement(dropped, test_x, data.test_y, seed=config.seed)
    summary = {
        "train_error": {n: tail_mean(h.train_error) for n, h in runs.items()},
        "test_error": {n: tail_mean(h.test_error) for n, h in runs.items()},
        "gap": {n: tail_mean(h.test_error) - tail_mean(h.train_error) for n, h in runs.items()},
        "target": config.target,
        "epochs_to_target": to_target,
        "iterations_ratio": e_yes / e_no if e_no is not None and e_yes is not None else None,
        "equivalence": equivalence,
        "mc_average": mc,
        "seconds_per_epoch": {n: h.seconds_per_epoch for n, h in runs.items()},
        "min_test_error": {"no dropout": min(no.test_error), "dropout": min(yes.test_error)},
    }
    net = models["no dropout"]
    network = (f"AlexNet, width {config.width:g} (conv {'-'.join(map(str, net.config['channels']))}),"
               f" fc {config.hidden}, LRN {config.lrn}, init {config.init!r}, inputs "
               f"{config.preprocess!r}")
    return ExperimentResult(NAME, config.to_dict(), describe_scale(data, network, config), runs,
                            summary, models)


def records(result: ExperimentResult, command: str = "", commit: str = "") -> list[Record]:
    """Claim 6's three parts: overfitting without dropout, ~2x iterations, test-time scaling."""
    s = result.summary
    names = list(s["train_error"])
    no, yes = names[0], names[1]
    tr, te, gap = s["train_error"], s["test_error"], s["gap"]
    common = dict(claim=6, scale=result.scale, experiment=NAME, notebook="book/dropout.ipynb",
                  command=command, commit=commit)
    e = s["epochs_to_target"]
    ratio = s["iterations_ratio"]
    epochs = result.config["epochs"]
    reached = {n: (f"{e[n]} epochs" if e[n] is not None else f"not within {epochs} epochs")
               for n in names}
    eq = s["equivalence"]
    return [
        Record(claim_text="Without dropout the network overfits substantially (dropout in fc6 "
                          "and fc7 prevents it)",
               paper="'substantial overfitting' without dropout (no number given)",
               ours=f"without dropout: training error {tr[no]:.1%}, test error {te[no]:.1%} "
                    f"(gap {gap[no]:.1%}); with dropout: {tr[yes]:.1%} and {te[yes]:.1%} "
                    f"(gap {gap[yes]:.1%}); mean of the last 3 epochs",
               status="reproduced" if gap[no] > gap[yes] else "not reproduced at this scale",
               values={"train_error": tr, "test_error": te, "gap": gap}, **common),
        Record(claim_text="Dropout roughly doubles the number of iterations required to converge",
               paper="about 2x the iterations",
               ours=f"epochs to {s['target']:.0%} training error: {reached[no]} without, "
                    f"{reached[yes]} with dropout"
                    + (f" ({ratio:.2f}x)" if ratio is not None else ""),
               status=("reproduced" if ratio is not None and 1.5 <= ratio <= 3.0
                       else "not reproduced at this scale"),
               values={"epochs_to_target": e, "ratio": ratio, "target": s["target"]}, **common),
        Record(claim_text="At test time, multiplying the outputs by 0.5 (the paper) is "
                          "equivalent to inverted dropout (scaling by 2 while training)",
               paper="multiply the outputs of the dropout layers by 0.5 at test time",
               ours=f"largest output difference {eq['eval']:.1e} at test time and "
                    f"{eq['train']:.1e} in training (same masks), outputs up to {eq['scale']:.1f}",
               status="reproduced" if max(eq["eval"], eq["train"]) <= 1e-4 * max(1.0, eq["scale"])
               else "not reproduced at this scale",
               values=eq, **common),
    ]
