"""A small, deterministic, in-memory training loop for the book's CPU-sized experiments.

Defined in the book's chapter "ReLU vs tanh" and used by the chapters on Local Response
Normalization, overlapping pooling and dropout.

The experiments of those chapters train small networks on a few thousand images that fit in
memory as tensors, for a few epochs, and compare curves. This loop does only that:

* **seeded**: the network is built after ``torch.manual_seed(seed)``, so two networks with the
  same layer shapes (a ReLU net and its tanh twin) start from the same weights, and the order
  of the mini-batches comes from its own generator, so it is the same for every run;
* **deterministic on the CPU**: a fixed thread count (floating-point sums depend on how the
  work is split between threads) and ``torch.use_deterministic_algorithms``;
* **measured per epoch**: training error (a clean pass in eval mode over the training set),
  test error, the running loss and error seen during the epoch, and the wall-clock seconds of
  the epoch's training steps (evaluation not included).

It is plain SGD with momentum and weight decay, the paper's optimiser (Section 5); the full
ImageNet training loop is elsewhere in the library. ``TrainConfig(device="cuda")`` runs the same
loop on a GPU (the weights are still drawn on the CPU, so a seed gives the same initial network
everywhere; the GPU's floats differ from the CPU's, so its records name the GPU).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

PREPROCESS = ("unit", "paper", "standardize")

__all__ = ["PREPROCESS", "TensorData", "TrainConfig", "History", "train", "evaluate", "fixed_threads",
           "epochs_to_reach", "wrong_per_image", "paired_difference"]


@dataclass
class TensorData:
    """A labelled train/test split held in memory.

    Images are uint8 ``(N, 3, H, W)`` tensors (a quarter of float32's memory); :meth:`inputs`
    turns them into the network's float input. ``description`` says what the data is, so every
    number measured on it can carry its scale.
    """

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    name: str
    description: str
    num_classes: int = 10

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
                raise ValueError(f"{split} images must be uint8 (N, 3, H, W), got {x.dtype} "
                                 f"{tuple(x.shape)}")
            if len(x) != len(y):
                raise ValueError(f"{split}: {len(x)} images but {len(y)} labels")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError("train and test images differ in shape")

    @property
    def image_size(self) -> int:
        """Side of the (square) images in pixels."""
        return int(self.train_x.shape[-1])

    def mean_image(self) -> Tensor:
        """The per-pixel mean of the training images, in [0, 1] (the paper subtracts it, Sec. 2)."""
        return self.train_x.float().mean(dim=0).div_(255.0)

    def inputs(self, preprocess: str = "unit") -> tuple[Tensor, Tensor]:
        """Float inputs for the network, train and test; the training set's mean image is
        subtracted from both (the paper's only preprocessing, Section 2).

        ``"unit"``: pixels scaled to [0, 1] first. ``"paper"``: pixels on the paper's scale,
        0..255. ``"standardize"``: divided by the training set's per-channel standard deviation
        after the subtraction (unit-variance inputs, the usual modern choice).
        """
        if preprocess not in PREPROCESS:
            raise ValueError(f"preprocess must be one of {PREPROCESS}, got {preprocess!r}")
        if preprocess == "unit":
            mean = self.mean_image()
            return (self.train_x.float().div_(255.0).sub_(mean),
                    self.test_x.float().div_(255.0).sub_(mean))
        mean = self.train_x.float().mean(dim=0)
        train, test = self.train_x.float().sub_(mean), self.test_x.float().sub_(mean)
        if preprocess == "standardize":
            std = train.std(dim=(0, 2, 3), keepdim=True)[0]
            return train.div_(std), test.div_(std)
        return train, test


@dataclass
class TrainConfig:
    """How to train: the paper's optimiser (SGD, momentum, weight decay) at a small scale.

    Args:
        epochs: passes over the training set.
        batch_size: images per step (the paper: 128).
        lr: learning rate (the paper: 0.01), constant unless ``lr_drops`` says otherwise.
        momentum: the paper's 0.9.
        weight_decay: the paper's 5e-4; 0 turns it off (Figure 1 used no regularisation).
        seed: seeds the weights (built after ``torch.manual_seed(seed)``), the batch order and
            dropout.
        threads: CPU threads during the run (restored after); ``None`` leaves torch's setting.
            Results are reproducible only for the same thread count.
        preprocess: ``"unit"`` (pixels in [0, 1] minus the mean image), ``"paper"`` (pixels
            0..255 minus the mean image) or ``"standardize"``; see :meth:`TensorData.inputs`.
        eval_train: measure ``train_error`` with a pass over the training set in eval mode after
            each epoch; if False, ``train_error`` is the running error of the epoch's
            mini-batches (free, and what the original code printed; the same thing up to the
            drift within an epoch for a network without dropout or BatchNorm).
        lr_drops: epochs after which the learning rate is divided by 10 (the paper divided it
            three times, "when the validation error rate stopped improving"); empty: constant.
        device: where the network trains (``"cpu"``, ``"cuda"``, ``"cuda:1"``); the data is
            moved there once, as a whole.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    threads: int | None = 2
    preprocess: str = "unit"
    eval_train: bool = True
    lr_drops: tuple[int, ...] = ()
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, "
                             f"{self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if torch.device(self.device).type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} asked for, but torch sees no CUDA GPU here "
                             "(use device='cpu')")


@dataclass
class History:
    """Per-epoch measurements of one training run (lists indexed by epoch - 1).

    Errors are fractions in [0, 1]. ``train_error`` comes from a pass over the training set in
    eval mode after the epoch (dropout off), ``running_error`` from the mini-batches as they were
    trained on (dropout on). ``epoch_seconds`` is the wall-clock time of the training steps.
    """

    label: str
    train_error: list[float] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    running_error: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    parameters: int = 0

    @property
    def epochs(self) -> list[int]:
        return list(range(1, len(self.train_error) + 1))

    @property
    def seconds_per_epoch(self) -> float:
        """Median wall-clock seconds of an epoch's training steps (robust to one slow epoch)."""
        s = sorted(self.epoch_seconds)
        return s[len(s) // 2] if s else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def fixed_threads(threads: int | None, device: str = "cpu") -> Iterator[None]:
    """Run with ``threads`` CPU threads and deterministic algorithms; restore both afterwards.

    On a GPU, the few kernels with no deterministic version warn instead of failing (cuBLAS is
    made deterministic by its workspace setting, which must be set before CUDA starts).
    """
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    gpu = torch.device(device).type == "cuda"
    if gpu:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=gpu)
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """Top-1 error (a fraction) of ``model`` in eval mode on float inputs ``x``."""
    return int(wrong_per_image(model, x, y, batch_size).sum()) / max(1, len(x))


def train(
    make_model: Callable[[], nn.Module],
    data: TensorData,
    config: TrainConfig,
    label: str = "",
    progress: bool = False,
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    view: Callable[[Tensor], Tensor] | None = None,
    stop: Callable[[History], bool] | None = None,
) -> tuple[nn.Module, History]:
    """Build a model with ``make_model()`` under ``config.seed`` and train it on ``data``.

    Returns the trained model and its :class:`History`. Building the model inside (after
    seeding) is what makes "the same initialisation" well defined: two factories whose networks
    have the same parameter shapes get the same initial weights.

    ``augment(batch, generator)`` transforms every training mini-batch (random crops, flips,
    colour shifts); its generator is seeded from ``config.seed + 1``, apart from the batch
    order's, so runs that differ only in augmentation see the same batches in the same order.
    ``view(images)`` is what the network sees of the images when errors are measured (e.g. the
    centre patch). ``progress=True`` shows a tqdm bar over epochs with the latest errors.
    ``stop(history)``, called after each epoch, ends training early when it returns True (e.g.
    once a target error is reached: the multi-seed Figure 1 runs stop there).
    """
    with fixed_threads(config.threads, config.device):
        torch.manual_seed(config.seed)
        model = make_model().to(config.device)
        train_x, test_x = (x.to(config.device) for x in data.inputs(config.preprocess))
        train_y, test_y = data.train_y.to(config.device), data.test_y.to(config.device)
        eval_train_x, eval_test_x = (view(train_x), view(test_x)) if view else (train_x, test_x)
        order_rng = torch.Generator().manual_seed(config.seed)
        augment_rng = torch.Generator().manual_seed(config.seed + 1)
        decay, no_decay = [], []
        for p in model.parameters():  # weight decay on weights only, as the paper's update
            (decay if p.dim() > 1 else no_decay).append(p)
        opt = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=config.lr, momentum=config.momentum)
        hist = History(label=label, parameters=sum(p.numel() for p in model.parameters()))
        epochs: range | Iterator[int] = range(config.epochs)
        if progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc=label or "training", unit="epoch")
        for epoch in epochs:
            for group in opt.param_groups:
                group["lr"] = config.lr * 0.1 ** sum(epoch >= d for d in config.lr_drops)
            model.train()
            order = torch.randperm(len(train_x), generator=order_rng).to(config.device)
            loss_sum, wrong = 0.0, 0
            start = time.perf_counter()
            for i in range(0, len(order), config.batch_size):
                idx = order[i:i + config.batch_size]
                xb = train_x[idx] if augment is None else augment(train_x[idx], augment_rng)
                logits = model(xb)
                loss = nn.functional.cross_entropy(logits, train_y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += float(loss.detach()) * len(idx)
                wrong += int((logits.argmax(1) != train_y[idx]).sum())
            hist.epoch_seconds.append(time.perf_counter() - start)
            hist.train_loss.append(loss_sum / len(order))
            hist.running_error.append(wrong / len(order))
            hist.train_error.append(evaluate(model, eval_train_x, train_y) if config.eval_train
                                    else hist.running_error[-1])
            hist.test_error.append(evaluate(model, eval_test_x, test_y))
            if progress:
                epochs.set_postfix(train=f"{hist.train_error[-1]:.3f}",
                                   test=f"{hist.test_error[-1]:.3f}")
            if stop is not None and stop(hist):
                break
        model.eval()
        return model, hist


def epochs_to_reach(errors: list[float], target: float) -> int | None:
    """The first epoch (1-based) whose error is at or below ``target``; None if never."""
    for epoch, err in enumerate(errors, start=1):
        if err <= target:
            return epoch
    return None


@torch.no_grad()
def wrong_per_image(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500,
                    predict: Callable[[nn.Module, Tensor], Tensor] | None = None) -> Tensor:
    """A bool per image: does ``model`` (in eval mode) get it wrong? Its mean is the top-1 error.

    The one evaluation loop of the experiments (:func:`evaluate` is its mean). ``predict(model,
    batch)`` gives the scores of a batch (default ``model(batch)``; e.g. the centre patch's, or
    the ten patches' average, :func:`alexnet_lib.augment.predict_patches`). The training
    command's streaming evaluation, with top-5 and the loss, is :func:`alexnet_lib.evaluate.evaluate`.
    """
    was_training = model.training
    model.eval()
    wrong = [torch.zeros(0, dtype=torch.bool, device=y.device)]
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            scores = predict(model, xb) if predict else model(xb)
            wrong.append(scores.argmax(1) != y[i:i + batch_size])
    finally:
        model.train(was_training)
    return torch.cat(wrong)


def paired_difference(wrong_a: Tensor, wrong_b: Tensor) -> tuple[float, float]:
    """Error of b minus error of a on the same images, and the standard error of that difference.

    Only the images one model gets wrong and the other right count: with ``c`` images wrong only
    for a and ``d`` only for b, the difference is ``(d - c) / n`` and its standard error
    ``sqrt(c + d) / n`` (McNemar's). A difference larger than twice it is unlikely to be the luck
    of which images happen to be in the test set.
    """
    n = len(wrong_a)
    only_a = int((wrong_a & ~wrong_b).sum())
    only_b = int((wrong_b & ~wrong_a).sum())
    return (only_b - only_a) / n, (only_a + only_b) ** 0.5 / n
