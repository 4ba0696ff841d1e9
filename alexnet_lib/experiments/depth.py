"""The depth experiment: the small AlexNet with and without one of its middle conv layers.

Defined in the book's chapter "The architecture"; ``python -m alexnet_lib.experiments.depth``
runs the same experiment from the command line.

The paper (Section 7, Discussion): "It is notable that our network's performance degrades if a
single convolutional layer is removed. For example, removing any of the middle layers results in
a loss of about 2% for the top-1 performance of the network." (Section 1 says the same without a
number.) It does not say how the shallower net was trained.

Here three copies of the book's small AlexNet (as in the augmentation experiment: two columns,
LRN per column, dropout 0.5, a quarter of the kernels, fc layers of 256, He initialisation,
standardised inputs, random crops and flips, 90 epochs with the learning rate divided by 10 after
epochs 60 and 80) differ only in their conv layers: all five, without conv3 (conv4 reads pool2's
maps, so the columns never meet before fc6) and without conv4 (conv5 reads conv3's maps). The
same seed gives them the same batches and crops; each is compared with the full net on the centre
patches of the same test images (paired standard error).
"""

from __future__ import annotations

import torch

from .augmentation import (
    PREPROCESS,
    errors_per_image,
    paired_difference,
    run_command_line,
    small_alexnet,
    train_augmented,
    training_setup,
)
from .datasets import builtin_data
from .loop import TensorData, fixed_threads
from .records import Record, git_commit

__all__ = ["ARMS", "depth_experiment", "depth_records", "run"]

NOTEBOOK = "book/architecture.ipynb"
COMMAND = "python -m alexnet_lib.experiments.depth"
ARMS: dict[str, tuple[str, ...]] = {  # name: the conv layers left out
    "all five conv layers": (),
    "without conv3": ("conv3",),
    "without conv4": ("conv4",),
}


def depth_experiment(n_train: int = 2000, n_test: int = 1000, image_size: int = 72,
                     crop: int = 64, epochs: int = 90, batch_size: int = 32, lr: float = 0.01,
                     lr_drops: tuple[int, ...] = (60, 80), weight_decay: float = 5e-4,
                     seed: int = 0, data: TensorData | None = None,
                     progress: bool = False) -> dict:
    """Train the small AlexNet with all five conv layers and without conv3, without conv4.

    Returns a JSON-ready dict: the configuration, per net its parameter count, history, final
    training and centre-patch test errors and per-image mistakes, and per removed layer the
    paired difference of its test error from the full net's.
    """
    data = data or builtin_data(n_train, n_test, image_size, seed)
    config, described = training_setup(data, image_size, crop, epochs, batch_size, lr, lr_drops,
                                       weight_decay, seed, augment="crops+flips")
    result: dict = {
        "config": described,
        "data": data.description,
        "nets": {},
        "comparisons": {},
    }
    _, test_x = data.inputs(PREPROCESS)
    wrong: dict[str, torch.Tensor] = {}
    for name, remove in ARMS.items():
        model, hist = train_augmented(lambda remove=remove: small_alexnet(crop, remove=remove), data,
                                      crop, config, crops_flips=True, label=name, progress=progress)
        with fixed_threads(config.threads):
            wrong[name] = errors_per_image(model, test_x, data.test_y, crop)
        result["nets"][name] = {
            "remove": list(remove),
            "parameters": sum(p.numel() for p in model.parameters()),
            "history": hist.to_dict(),
            "train_error": hist.train_error[-1],
            "test_error": float(wrong[name].double().mean()),
            "wrong": wrong[name].int().tolist(),
        }
    full = next(iter(ARMS))
    for name in list(ARMS)[1:]:
        diff, se = paired_difference(wrong[full], wrong[name])  # error(without) - error(full)
        result["comparisons"][name] = {"difference": diff, "standard_error": se}
    return result


def depth_records(result: dict, command: str = COMMAND) -> list[Record]:
    """The records of claim 8, one per removed layer, from :func:`depth_experiment`."""
    cfg = result["config"]
    nets = result["nets"]
    full_name = next(iter(ARMS))
    full = nets[full_name]
    scale = (f"{result['data']}; trained on random {cfg['crop']}x{cfg['crop']} patches and flips, "
             f"tested on the centre patch; small AlexNet (width 0.25, fc 256, He init, "
             f"standardised inputs, {full['parameters']:,} parameters), {cfg['epochs']} epochs, "
             f"seed {cfg['seed']}, CPU")
    records = []
    for name, cmp in result["comparisons"].items():
        net = nets[name]
        # The rule, fixed before the run: removing the layer raises the test error by more than
        # two paired standard errors.
        worse = cmp["difference"] > 2 * cmp["standard_error"]
        records.append(Record(
            claim=8, claim_text=f"removing a middle conv layer ({', '.join(net['remove'])}) costs "
            "top-1 accuracy",
            paper="removing any of the middle layers: about 2% worse top-1",
            ours=(f"top-1 error {100 * full['test_error']:.1f}% with all five conv layers, "
                  f"{100 * net['test_error']:.1f}% {name} ({100 * cmp['difference']:+.1f} +- "
                  f"{100 * cmp['standard_error']:.1f} points; {net['parameters']:,} parameters)"),
            scale=scale, status="reproduced" if worse else "not reproduced at this scale",
            experiment="depth", notebook=NOTEBOOK, command=command, commit=git_commit(),
            values={"test_error_full": full["test_error"], "test_error_without": net["test_error"],
                    "difference": cmp["difference"], "standard_error": cmp["standard_error"],
                    "train_error_full": full["train_error"],
                    "train_error_without": net["train_error"]}))
    return records


def run(argv: list[str] | None = None, prog: str | None = None) -> None:
    """Command line: run the experiment and save its result and records as JSON."""
    run_command_line("depth", __doc__.split("\n")[0], COMMAND, depth_experiment, depth_records,
                     argv, prog)


if __name__ == "__main__":
    run()
