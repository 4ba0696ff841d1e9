"""Train AlexNet on ImageNet with the paper's recipe: ``python -m alexnet_lib.train``.

Defined in the book's chapter "Training AlexNet at ImageNet scale".

One command, from a smoke run on the CPU to many GPUs on many machines::

    python -m alexnet_lib.train --dataset builtin --epochs 1 --out /tmp/r   # offline smoke run
    python -m alexnet_lib.train --data data/imagenet --out runs/alexnet     # one GPU
    python -m alexnet_lib.train --data data/imagenet --model-parallel      # the paper's 2 GPUs
    torchrun --standalone --nproc_per_node=8 -m alexnet_lib.train --data data/imagenet  # DDP

The recipe is the paper's (Section 5 and 4.1) unless a flag says otherwise: all its numbers are
in :data:`RECIPES`, next to torchvision's reference recipe for comparison. The run folder
(``--out``) holds everything needed to trust, continue and reproduce the run: ``config.json``
(every setting, resolved), ``env.json`` (versions, devices, git commit), ``metrics.csv`` and
``tensorboard/`` (one row / point per epoch), ``log.txt`` (the summary lines), ``stats.npz`` (the
mean image and RGB PCA the run used), ``last.pt`` (written atomically every epoch and every
``--checkpoint-minutes``), ``best.pt`` (lowest validation error), ``final.json`` (the centre and
10-crop errors of ``best.pt``) and ``throughput.json``. ``--resume`` continues from ``last.pt``.

One job per module:

* :mod:`.recipes`: the paper's and torchvision's numbers (:data:`RECIPES`), the smoke run's sizes.
* :mod:`.config`: the command line and how flags, a resumed run and the recipe combine.
* :mod:`.dist`: torchrun's processes, devices, the collectives the loop needs.
* :mod:`.schedule`: the learning-rate schedule and the optimizer's parameter groups.
* :mod:`.inputs`: the dataset folder, the training set's statistics, the pipelines.
* :mod:`.rundir`: the run folder (log, config, environment, metrics, TensorBoard, reports).
* :mod:`.trainer`: :class:`Trainer`, the loop and ``last.pt``.
* :mod:`.command`: :func:`main`.
"""

from ..evaluate import build_model, evaluate_checkpoint
from .command import main
from .config import DEFAULTS, MACHINE_KEYS, RUNTIME_KEYS, build_parser, resolve_config
from .dist import DistInfo
from .recipes import BUILTIN_SMOKE, INITS, RECIPES
from .schedule import LRSchedule
from .trainer import Trainer

__all__ = ["RECIPES", "BUILTIN_SMOKE", "INITS", "DEFAULTS", "RUNTIME_KEYS", "MACHINE_KEYS",
           "build_parser", "resolve_config", "build_model", "DistInfo", "LRSchedule", "Trainer",
           "evaluate_checkpoint", "main"]
