"""Experiments: the measurements behind the book's chapters, as library code.

Defined in the book's chapter "ReLU vs tanh" and used by every chapter that measures a claim of
the paper. Each experiment module has a configuration dataclass whose defaults are the chapter's
run, a ``run`` function returning an :class:`~.common.ExperimentResult`, and a ``records``
function that turns the result into :class:`~.records.Record` s for the claims scorecard.
``python -m alexnet_lib.experiments NAME`` runs one from the command line and writes its JSON
result and plot.

Shared pieces: :mod:`.loop` (the small deterministic training loop), :mod:`.datasets` (the
built-in dataset and CIFAR-10 as in-memory tensors), :mod:`.nets` (the paper's four-layer
CIFAR-10 network), :mod:`.records` (result files), :mod:`.common` (configurations and results).
"""

from .loop import History, TensorData, TrainConfig, epochs_to_reach, evaluate, train
from .records import Record, load_records

__all__ = ["History", "Record", "TensorData", "TrainConfig", "epochs_to_reach", "evaluate",
           "load_records", "train"]
