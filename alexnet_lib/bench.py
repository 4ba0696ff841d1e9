"""Benchmarks: ``python -m alexnet_lib.bench {lrn,layers,train,ceiling,pipeline,book}``.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the speed section).

* ``lrn``   our LRN (:mod:`alexnet_lib.lrn`) vs ``torch.nn.LocalResponseNorm``, forward + backward,
            at conv1's size; prints both times and ``speedup: X.XX``.
* ``layers`` where a training step's time goes: forward + backward time of each layer of
            AlexNet (any device; bf16 and channels_last as on a GPU).
* ``train`` images/s of a training step on one GPU, on an ImageNet-like JPEG folder:
            (a) pytorch/examples' ``imagenet/main.py --arch alexnet`` run unmodified (you pass its
            path: it is fetched separately and never part of this project), (b)
            ``python -m alexnet_lib.train``, (c) the model alone on data already on the device
            (the ceiling). Prints a table with b/a, b/c and projected hours for 90 epochs.
            ``--prepared`` adds both scripts on a 256x256 copy of the folder (the paper's
            one-time preprocessing, as ``python -m alexnet_lib.data.prepare`` does).
* ``ceiling`` the model's training step alone under each lever (batch size, torch.compile's
            modes, channels_last, cudnn.benchmark), then the profiler's top kernels of the
            fastest (:mod:`alexnet_lib.ceiling`).
* ``pipeline`` where the GPU input pipeline's time goes: images/s of reading, decoding (in one
            thread and split over several), resizing and augmenting, each on its own.
* ``book``  the execution time of every chapter notebook on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import multiprocessing as mp
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .ceiling import VARIANTS, Variant, bench_model_ceiling, format_sweep, sweep, synchronize
from .lrn import LocalResponseNorm
from .provenance import cpu_model

IMAGENET_TRAIN_IMAGES = 1_281_167  # ILSVRC-2012 training set
EPOCHS = 90


def _timeit(fn: Callable[[], None], repeats: int, sync: Callable[[], None]) -> float:
    """Best-of-``repeats`` wall-clock seconds of ``fn`` after one warm-up call."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and the threads torch uses on it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({torch.get_num_threads()} threads)"


def bench_lrn(shape: tuple[int, ...] = (32, 96, 55, 55), device: str = "cpu", repeats: int = 5,
              dtype: torch.dtype = torch.float32, channels_last: bool = False,
              compiled: bool = False) -> dict[str, object]:
    """Seconds per forward+backward of the LRNs on the same post-ReLU input, and the ratio.

    Keys: ``torch_s`` (``torch.nn.LocalResponseNorm``), ``slices_s`` (ours, tensor operations),
    ``triton_s`` (ours, fused kernels; CUDA with Triton only), ``compiled_s`` (ours under
    ``torch.compile``, if ``compiled``), ``ours_s`` (what the library uses by default on this
    device) and ``speedup`` (torch_s / ours_s); a variant that fails is named in ``errors``.
    """
    from .lrn import local_response_norm, triton_available

    dev = torch.device(device)
    torch.manual_seed(0)
    x = torch.randn(shape, device=dev, dtype=dtype).relu_()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(x)

    def step(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            a = x.detach().requires_grad_(True)
            fn(a).backward(grad)
        return run

    variants: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "torch": torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0),  # the same function
        "slices": lambda a: local_response_norm(a, 5, 1e-4, 0.75, 2.0, impl="slices"),
    }
    if dev.type == "cuda" and triton_available():
        variants["triton"] = lambda a: local_response_norm(a, 5, 1e-4, 0.75, 2.0, impl="triton")
    if compiled:
        variants["compiled"] = torch.compile(LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
    sync = functools.partial(synchronize, dev)
    result: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name, fn in variants.items():
        try:  # one variant failing (torch's LRN has no bf16 on CPUs) leaves the others' times
            result[f"{name}_s"] = _timeit(step(fn), repeats, sync)
        except (RuntimeError, NotImplementedError) as err:
            errors[name] = f"{type(err).__name__}: {err}".splitlines()[0]
    ours = "triton_s" if dev.type == "cuda" and "triton" in variants else "slices_s"  # the default
    if ours in result:
        result["ours_s"] = result[ours]
        if "torch_s" in result:
            result["speedup"] = result["torch_s"] / result["ours_s"]
    return result | ({"errors": errors} if errors else {})


LRN_ROWS = {"torch_s": "torch.nn.LocalResponseNorm",
            "slices_s": "alexnet_lib LRN, tensor ops (CPU default)",
            "triton_s": "alexnet_lib LRN, fused Triton (CUDA default)",
            "compiled_s": "alexnet_lib LRN under torch.compile"}


# --------------------------------------------------------------------------- layers


def _layer_kind(module: torch.nn.Module) -> str:
    names = {torch.nn.Conv2d: "conv", torch.nn.Linear: "fc", torch.nn.ReLU: "relu",
             torch.nn.MaxPool2d: "pool", torch.nn.Dropout: "dropout", torch.nn.Flatten: "flatten"}
    for cls, kind in names.items():
        if isinstance(module, cls):
            return kind
    return "lrn" if isinstance(module, LocalResponseNorm) else type(module).__name__.lower()


def bench_layers(batch_size: int = 32, device: str = "cpu", repeats: int = 3,
                 dtype: torch.dtype = torch.float32, channels_last: bool = False,
                 model: torch.nn.Module | None = None, input_size: int = 224) -> dict[str, object]:
    """Where a training step's time goes: forward + backward seconds of each layer of AlexNet.

    Each layer is timed on its own (best of ``repeats``), on an input of the shape, type and
    layout it gets inside the network, with the gradient of its input as in training (none for
    conv1) and in-place layers made out-of-place; the whole network is timed too (``total_s``),
    to compare with the sum. ``dtype`` bfloat16 runs under autocast, as training on a GPU does.
    Returns ``{"layers": [{"name", "kind", "seconds"}, ...], "total_s", ...}``.
    """
    import copy

    from .model import AlexNet

    dev = torch.device(device)
    torch.manual_seed(0)
    net = (model or AlexNet()).to(dev).train()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    layers = [*net.features.named_children(), ("flatten", torch.nn.Flatten()),
              *net.classifier.named_children()]
    whole = torch.nn.Sequential(*(m for _, m in layers))
    x = torch.randn(batch_size, 3, input_size, input_size, device=dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    sync = functools.partial(synchronize, dev)

    def autocast() -> torch.autocast:
        return torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32)

    inputs: list[torch.Tensor] = []  # what each layer receives inside the network
    hooks = [m.register_forward_pre_hook(lambda _, args: inputs.append(args[0].detach().clone()))
             for m in whole]
    with torch.no_grad(), autocast():
        whole(x)
    for hook in hooks:
        hook.remove()

    def step(module: torch.nn.Module, a: torch.Tensor, input_grad: bool) -> Callable[[], None]:
        def run() -> None:
            leaf = a.detach().requires_grad_(input_grad)
            with autocast():
                out = module(leaf)
            out.backward(torch.ones_like(out))
            module.zero_grad(set_to_none=True)
        return run

    rows = []
    for k, (name, module) in enumerate(layers):
        alone = copy.deepcopy(module)
        if hasattr(alone, "inplace"):
            alone.inplace = False  # in place, the leaf input could not take a gradient
        rows.append({"name": name, "kind": _layer_kind(module),
                     "seconds": _timeit(step(alone, inputs[k], k > 0), repeats, sync)})

    def full_step() -> None:
        with autocast():
            out = whole(x)
        out.float().sum().backward()
        whole.zero_grad(set_to_none=True)

    return {**_provenance(dev), "batch_size": batch_size, "dtype": str(dtype).removeprefix("torch."),
            "channels_last": channels_last, "repeats": repeats, "layers": rows,
            "total_s": _timeit(full_step, repeats, sync)}


def format_layer_times(result: dict) -> str:
    """The ``layers`` table: each layer's milliseconds and share of their sum, the sum per kind,
    and the whole network timed in one piece."""
    total = sum(r["seconds"] for r in result["layers"])
    lines = [f"{'layer':<8} {'kind':<8} {'ms':>9} {'share':>7}"]
    lines += [f"{r['name']:<8} {r['kind']:<8} {r['seconds'] * 1e3:9.2f} {r['seconds'] / total:7.1%}"
              for r in result["layers"]]
    kinds: dict[str, float] = {}
    for r in result["layers"]:
        kinds[r["kind"]] = kinds.get(r["kind"], 0.0) + r["seconds"]
    lines.append(f"{'sum':<17} {total * 1e3:9.2f}   (" + ", ".join(
        f"{k} {v / total:.0%}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])) + ")")
    lines.append(f"{'whole net':<17} {result['total_s'] * 1e3:9.2f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- train


def _write_chunk(args: tuple[str, list[int], tuple[int, int], int]) -> int:
    from PIL import Image

    from .data.builtin import CLASSES, generate_image

    root, indices, size, seed = args
    for i in indices:
        image, label = generate_image(i, "train", size, seed)
        folder = Path(root) / "train" / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{CLASSES[label]}_{i:07d}.JPEG", quality=90)
    return len(indices)


def make_jpeg_folder(root: Path, images: int, size: tuple[int, int] = (500, 375), seed: int = 0,
                     workers: int | None = None) -> Path:
    """Write ``images`` built-in images of ImageNet's typical size as ``root/train/<class>/*.JPEG``
    (and a small ``val/``), in parallel. Reuses the folder if it already holds that many."""
    from .data.builtin import write_image_folder

    existing = sum(1 for _ in (root / "train").glob("*/*.JPEG")) if (root / "train").is_dir() else 0
    if existing >= images:
        return root
    workers = workers or os.cpu_count() or 1
    chunks = [list(range(k, images, workers)) for k in range(workers)]
    jobs = [(str(root), c, size, seed) for c in chunks]
    if workers == 1:
        _write_chunk(jobs[0])
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            pool.map(_write_chunk, jobs)
    # pytorch/examples validates every epoch: give it a small val split.
    write_image_folder(root / "_val", size=size, train_per_class=0, val_per_class=5, seed=seed)
    (root / "_val" / "val").rename(root / "val") if not (root / "val").exists() else None
    return root


def _prepare_chunk(args: tuple[list[tuple[str, str]], int]) -> int:
    from .data.prepare import convert_image

    pairs, size = args
    for src, dst in pairs:
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        Path(dst).write_bytes(convert_image(Path(src).read_bytes(), size)[0])
    return len(pairs)


def make_prepared_copy(src: Path, dst: Path | None = None, size: int = 256,
                       workers: int | None = None) -> Path:
    """A copy of the JPEG folder ``src`` in the paper's preprocessing (shorter side to ``size``,
    central square; what ``python -m alexnet_lib.data.prepare`` does to ImageNet once, with the
    same function). Reuses ``dst`` if it already holds as many images as ``src``. By default
    ``dst`` is ``src`` with ``-256`` appended: ``train --prepared`` and ``pipeline --prepared``
    share it."""
    dst = dst or src.with_name(f"{src.name}-{size}")
    files = sorted(src.glob("*/*/*.JPEG"))
    if sum(1 for _ in dst.glob("*/*/*.JPEG")) >= len(files):
        return dst
    pairs = [(str(f), str(dst / f.relative_to(src))) for f in files]
    workers = workers or os.cpu_count() or 1
    jobs = [(pairs[k::workers], size) for k in range(workers)]
    if workers == 1:
        _prepare_chunk(jobs[0])
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            pool.map(_prepare_chunk, jobs)
    return dst


_EXAMPLES_LINE = re.compile(r"Epoch: \[0\]\[\s*(\d+)/\s*(\d+)\]\s+Time\s+[\d.]+\s+\(\s*([\d.]+)\)")


def bench_pytorch_examples(main_py: Path, folder: Path, batch_size: int, workers: int,
                           timeout: float) -> float:
    """Images/s of pytorch/examples' imagenet/main.py --arch alexnet, run unmodified.

    Its progress lines print the running mean batch time; the steady-state rate comes from two
    of them (skipping the first prints, which include start-up).
    """
    main_py, folder = main_py.resolve(), folder.resolve()
    cmd = [sys.executable, str(main_py), str(folder), "--arch", "alexnet", "--lr", "0.01",
           "--batch-size", str(batch_size), "--workers", str(workers), "--epochs", "1",
           "--print-freq", "10"]
    print("running:", " ".join(cmd), flush=True)
    with tempfile.TemporaryDirectory() as cwd:  # it saves two ~470 MB checkpoints in its cwd
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    points = [(int(m[1]), float(m[3])) for m in _EXAMPLES_LINE.finditer(proc.stdout)]
    if len(points) < 2:
        raise RuntimeError(f"could not read pytorch/examples' progress lines:\n{proc.stdout[-2000:]}"
                           f"\n{proc.stderr[-2000:]}")
    # Line "[k/n] Time t (avg)" gives the mean over the first k batches: the batches between two
    # lines took avg1*k1 - avg0*k0 seconds. The first line is skipped when there are more.
    (k0, avg0), (k1, avg1) = points[1 if len(points) > 2 else 0], points[-1]
    seconds = (avg1 * k1 - avg0 * k0) / (k1 - k0)
    return batch_size / seconds


def bench_ours(folder: Path, batch_size: int, workers: int, out: Path, extra: list[str],
               timeout: float) -> float:
    """Images/s of ``python -m alexnet_lib.train`` for one epoch over ``folder`` (its own report).

    Each call trains in a new folder under ``out`` (the command refuses to overwrite a run)."""
    out.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f"{folder.name}-", dir=out))
    cmd = [sys.executable, "-m", "alexnet_lib.train", "--data", str(folder), "--epochs", "1",
           "--batch-size", str(batch_size), "--workers", str(workers), "--out", str(out),
           "--no-eval", *extra]
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"alexnet_lib.train failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "throughput.json").read_text())
    return float(metrics["train_images_per_s"])


def _timing_pipeline(folder: Path, batch_size: int, workers: int, device: str):
    """The training split's ``--pipeline gpu`` on ``folder``, with stand-in statistics (they only
    shift values; their numbers do not change the cost)."""
    import numpy as np

    from .data import DatasetStatistics
    from .data.pipeline import PipelineConfig, make_pipeline

    stats = DatasetStatistics(image=np.full((3, 256, 256), 0.45, np.float32),
                              channel_mean=np.full(3, 0.45, np.float32),
                              channel_std=np.full(3, 0.25, np.float32), count=1,
                              rgb_eigenvalues=np.array([0.2, 0.02, 0.005]), rgb_eigenvectors=np.eye(3))
    config = PipelineConfig(dataset="imagenet", root=folder, batch_size=batch_size, workers=workers,
                            statistics=stats, channels_last=True)
    pipe = make_pipeline("gpu", "train", config, device)
    pipe.set_epoch(0)
    return pipe


def bench_gpu_pipeline(folder: Path, batch_size: int, workers: int, device: str,
                       max_batches: int = 100) -> float:
    """Images/s of the GPU input pipeline alone (read, decode, augment), no model."""
    pipe = _timing_pipeline(folder, batch_size, workers, device)
    sync = functools.partial(synchronize, device)
    n, start = 0, None
    for i, (x, _) in enumerate(pipe):
        if i == 2:  # skip start-up (worker processes, first decodes)
            sync()
            start, n = time.perf_counter(), 0
        n += x.shape[0]
        if i >= max_batches:
            break
    sync()
    if start is None:
        raise RuntimeError("too few batches to time the pipeline: use more images")
    return n / (time.perf_counter() - start)


PIPELINE_STAGES = {
    "read": "read files (loader workers, from their start)",
    "decode": "decode JPEGs, one thread",
    "decode_threads": "decode JPEGs, {threads} threads",
    "resize": "decode + resize to 256x256",
    "prepare": "all: + crop, flip, PCA lighting, mean",
}


def bench_pipeline_stages(folder: Path, batch_size: int, workers: int, device: str,
                          batches: int = 8, threads: int = 4) -> dict[str, object]:
    """Where the ``--pipeline gpu`` time goes: images/s of each stage on its own.

    The loader's workers read ``batches`` batches (``read``: from the workers' start, so it
    includes it); the stages after it run again and again on those batches, held in memory:
    decoding alone in the calling thread (``decode``), decoding with each batch split over
    ``threads`` threads, each on its own CUDA stream (``decode_threads``: whether decoding in
    parallel would pay), decoding and resizing (``resize``), and all of a batch's preparation
    (``prepare``). (The calling thread's CPU time would not tell whether decoding is limited by
    the CPU: waiting for a CUDA stream spins, so it counts as busy.)
    """
    from concurrent.futures import ThreadPoolExecutor

    from .data.gpu_pipeline import decode_batch

    pipe = _timing_pipeline(folder, batch_size, workers, device)
    dev, dec = pipe.device, pipe.decoders  # the pipeline's device has its index (streams need it)
    sync = functools.partial(synchronize, dev)
    start = time.perf_counter()
    held = []
    for batch in pipe.loader:
        held.append(batch)
        if len(held) == batches:
            break
    images = sum(len(b.lengths) for b in held)
    rates: dict[str, float] = {"read": images / (time.perf_counter() - start)}
    if len(held) < 2:
        raise RuntimeError("too few batches to time the pipeline's stages: use more images")

    def decode(files) -> None:
        dec.decode_jpeg(list(files), mode=dec.rgb, device=dev)

    pool = ThreadPoolExecutor(threads)  # shut down by the `with pool` below
    streams = [torch.cuda.Stream(dev) if dev.type == "cuda" else None for _ in range(threads)]

    def decode_split(batch) -> None:
        files = batch.files()
        chunks = [files[k::threads] for k in range(threads)]

        def work(k: int) -> None:
            with torch.cuda.stream(streams[k]) if streams[k] is not None else contextlib.nullcontext():
                decode(chunks[k])
        list(pool.map(work, range(threads)))

    generator = torch.Generator().manual_seed(0)
    stages: dict[str, Callable] = {
        "decode": lambda b: decode(b.files()),
        "decode_threads": decode_split,
        "resize": lambda b: decode_batch(b.files(), dev, pipe.config.image_size, dec),
        "prepare": lambda b: pipe._prepare(b, generator),
    }
    with pool:
        for name, stage in stages.items():
            stage(held[0])  # warm-up: the decoder's start-up, kernels' first launch
            sync()
            start = time.perf_counter()
            for batch in held:
                stage(batch)
            sync()
            rates[name] = images / (time.perf_counter() - start)
    return {**_provenance(dev), "batch_size": batch_size, "batches": len(held), "threads": threads,
            "workers": workers, "images_per_s": rates, "decoders": dec.library}


def format_pipeline_stages(result: dict) -> str:
    """:func:`bench_pipeline_stages`'s result as a table of images/s; with a second column for
    the folder prepared at 256x256 if the record has one (``images_per_s_prepared``)."""
    prepared = result.get("images_per_s_prepared", {})
    lines = [f"{'stage':<48} {'images/s':>10}" + (f" {'256x256 folder':>15}" if prepared else "")]
    for key, rate in result["images_per_s"].items():
        line = f"{PIPELINE_STAGES[key].format(threads=result['threads']):<48} {rate:>10,.0f}"
        lines.append(line + (f" {prepared[key]:>15,.0f}" if key in prepared else ""))
    return "\n".join(lines)


def _provenance(device: torch.device | str = "cpu") -> dict[str, object]:
    """When, on what and with which code and command a measurement was made (airbench-style
    header of every record).

    A working tree copied without ``.git`` (as to a lent GPU machine) takes the commit from the
    ``ALEXNET_COMMIT`` environment variable."""
    import torchvision

    from .experiments.records import git_commit

    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    commit = git_commit(paths=("alexnet_lib",))
    return {"device": _device_name(torch.device(device)), "torch": torch.__version__,
            "command": "python -m alexnet_lib.bench " + shlex.join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": os.environ.get("ALEXNET_COMMIT", commit) if commit == "unknown" else commit,
            "cpus": os.cpu_count(), "torchvision": torchvision.__version__, "triton": triton_version,
            "python": platform.python_version()}


def run_train_bench(args: argparse.Namespace) -> dict[str, object]:
    device = torch.device(args.device)
    folder = make_jpeg_folder(Path(args.folder), args.images, tuple(args.image_size))
    result: dict[str, object] = {
        **_provenance(device), "batch_size": args.batch_size, "images": args.images,
        "image_size": list(args.image_size),
    }
    rates: dict[str, float] = {}
    errors: dict[str, str] = {}
    result["images_per_s"] = rates
    train_args = args.train_args.split() if args.train_args else []

    def measure(key: str, fn: Callable[[], float]) -> None:
        """One row: a failure is recorded and the others still run, and the record is written
        after every row, so a run cut short (a GPU lent for minutes) keeps what it measured."""
        try:
            rates[key] = fn()
            print(f"({key}) {TRAIN_ROWS[key]}: {rates[key]:,.0f} images/s", flush=True)
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as err:
            errors[key] = f"{type(err).__name__}: {err}"[-2000:]
            print(f"({key}) {TRAIN_ROWS[key]} FAILED: {errors[key]}", file=sys.stderr, flush=True)
        for num, den in RATIOS:
            if num in rates and den in rates:
                result[f"{num}_over_{den}"] = rates[num] / rates[den]
        if errors:
            result["errors"] = errors
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")

    # The rows of the goals (a, b, c) first, then the extra ones.
    if args.pipeline_only:
        measure("p", lambda: bench_gpu_pipeline(folder, args.batch_size, args.workers, args.device))
    if args.examples:
        measure("a", lambda: bench_pytorch_examples(Path(args.examples), folder, args.batch_size,
                                                    args.workers, args.timeout))
    if not args.skip_ours:
        measure("b", lambda: bench_ours(folder, args.batch_size, args.workers, Path(args.out),
                                        train_args, args.timeout))
    measure("c", lambda: bench_model_ceiling(args.batch_size, args.device,
                                             compile_model=not args.no_compile,
                                             bf16=device.type == "cuda",
                                             channels_last=device.type == "cuda"))
    if args.prepared:
        # The paper resized ImageNet to 256x256 once, before training; both scripts on that copy.
        prepared = make_prepared_copy(folder)
        if args.examples:
            measure("a256", lambda: bench_pytorch_examples(Path(args.examples), prepared,
                                                           args.batch_size, args.workers, args.timeout))
        if not args.skip_ours:
            measure("b256", lambda: bench_ours(prepared, args.batch_size, args.workers,
                                               Path(args.out), train_args, args.timeout))
    print("\n" + format_train_table(result))
    return result


TRAIN_ROWS = {"p": "input pipeline alone (--pipeline gpu, no model)",
              "a": "pytorch/examples imagenet/main.py --arch alexnet",
              "b": "python -m alexnet_lib.train",
              "a256": "pytorch/examples, folder prepared at 256x256",
              "b256": "python -m alexnet_lib.train, folder prepared at 256x256",
              "c": "model alone, data on the device (ceiling)"}
RATIOS = (("b", "a"), ("b", "c"), ("b256", "a256"), ("b256", "a"), ("b256", "c"))
"""The ratios the table prints: b/a and b/c are the issue's goals (>= 4 and >= 0.7)."""


def load_train_record(name: str = "gpu/bench_train_h100.json") -> dict:
    """A benchmark record (``train`` or ``layers``) saved with ``--json`` under the book's results
    folder."""
    from .experiments.records import RESULTS_DIR

    return json.loads((Path(RESULTS_DIR) / name).read_text())


def format_train_table(result: dict) -> str:
    """The ``train`` table (images/s, projected hours for 90 ImageNet epochs, ratios) as text."""
    lines = [f"{'':6} {'what':<55} {'images/s':>10} {'90 epochs (h)':>14}"]
    for key, rate in result["images_per_s"].items():
        hours = IMAGENET_TRAIN_IMAGES * EPOCHS / rate / 3600
        lines.append(f"{'(' + key + ')':<6} {TRAIN_ROWS[key]:<55} {rate:>10,.0f} {hours:>14.1f}")
    keys = [f"{num}_over_{den}" for num, den in RATIOS]
    lines += [f"{k.replace('_over_', '/')}: {result[k]:.2f}" for k in keys if k in result]
    return "\n".join(lines)


# --------------------------------------------------------------------------- book


def execute_notebook(nb, folder: Path, timeout: int = 600) -> None:
    """Execute ``nb`` (an nbformat notebook) in place, in a fresh kernel started in ``folder``.

    The kernel's own log is limited to errors: ipykernel 7 warns at every start that its local
    TCP ports are unencrypted, which says nothing about the notebook.
    """
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   extra_arguments=["--IPKernelApp.log_level=ERROR"],
                   resources={"metadata": {"path": str(folder)}}).execute()


def bench_book(root: Path, timeout: int = 600, json_path: str | Path | None = None) -> dict[str, float]:
    """Seconds to execute each chapter notebook listed in ``_toc.yml`` (fresh kernel each); with
    ``json_path``, also a record of them (the command, commit, machine, date, per chapter and
    total), rewritten after every chapter."""
    import nbformat
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    times: dict[str, float] = {}
    for name in files:
        path = root / f"{name}.ipynb"
        if not path.exists():
            continue  # a markdown page
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        execute_notebook(nb, path.parent, timeout)
        times[name] = time.perf_counter() - start
        print(f"{name:<30} {times[name]:7.1f} s", flush=True)
        if json_path:
            record = {**_provenance(torch.device("cpu")), "kind": "book_time",
                      "what": "Seconds to execute each chapter notebook in a fresh kernel",
                      "seconds": {k: round(v, 1) for k, v in times.items()},
                      "total_s": round(sum(times.values()), 1)}
            Path(json_path).write_text(json.dumps(record, indent=2) + "\n")
    print(f"{'total':<30} {sum(times.values()):7.1f} s")
    return times


def _add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """The JPEG folder options shared by ``train`` and ``pipeline`` (same defaults, same folder)."""
    parser.add_argument("--folder", default="data/bench-jpeg",
                        help="ImageNet-style JPEG folder; generated from the built-in data if missing")
    parser.add_argument("--images", type=int, default=25_600, help="training images to generate/use")
    parser.add_argument("--image-size", type=int, nargs=2, default=[500, 375], metavar=("W", "H"),
                        help="size of generated images (default: ImageNet's typical 500x375)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexnet_lib.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lrn", help="our LRN vs torch.nn.LocalResponseNorm, forward + backward")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--shape", type=int, nargs=4, default=[32, 96, 55, 55],
                   metavar=("N", "C", "H", "W"), help="input shape (default: conv1's, batch 32)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the best is kept")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="element type (training on a GPU runs LRN in bfloat16 under autocast)")
    p.add_argument("--channels-last", action="store_true", help="input in channels_last layout")
    p.add_argument("--compile", action="store_true", help="also time ours under torch.compile")

    p = sub.add_parser("train", help="images/s: pytorch/examples vs alexnet_lib.train vs ceiling")
    _add_folder_arguments(p)
    p.add_argument("--examples", default=None,
                   help="path to pytorch/examples' imagenet/main.py (fetched separately; omitted "
                        "from the table if not given)")
    p.add_argument("--batch-size", type=int, default=256, help="images per step (default: 256)")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1),
                   help="data-loading processes for both training scripts")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="device for the ceiling measurement (default: cuda if present)")
    p.add_argument("--no-compile", action="store_true", help="do not torch.compile the ceiling model")
    p.add_argument("--skip-ours", action="store_true", help="leave out (b), alexnet_lib.train")
    p.add_argument("--pipeline-only", action="store_true",
                   help="also time the GPU input pipeline alone, without a model")
    p.add_argument("--prepared", action="store_true",
                   help="also run (a) and (b) on a copy of the folder resized to 256x256 as the "
                        "paper (and python -m alexnet_lib.data.prepare) does once before training")
    p.add_argument("--train-args", default="", help="extra flags for alexnet_lib.train, quoted")
    p.add_argument("--out", default="runs/bench-train", help="run folder for alexnet_lib.train")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per training run")
    p.add_argument("--json", default=None,
                   help="also write the results to this JSON file (rewritten after every row)")

    p = sub.add_parser("layers", help="forward + backward time of each layer of AlexNet")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (default: 32)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="bfloat16 runs under autocast, as training on a GPU does")
    p.add_argument("--channels-last", action="store_true", help="channels_last model and input")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is kept")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")

    p = sub.add_parser("ceiling", help="the model's training step alone, under each lever")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="device (default: cuda if present); bf16 on a GPU, float32 on a CPU")
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant (default: 30)")
    p.add_argument("--budget", type=float, default=240,
                   help="seconds after which no new variant starts (default: 240)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="only this batch size, eager and without channels_last (a quick check)")
    p.add_argument("--no-profile", action="store_true", help="do not profile the fastest")
    p.add_argument("--json", default=None,
                   help="also write the results to this JSON file (rewritten after every row)")

    p = sub.add_parser("pipeline", help="images/s of each stage of the GPU input pipeline")
    _add_folder_arguments(p)
    p.add_argument("--batch-size", type=int, default=256, help="images per batch (default: 256)")
    p.add_argument("--batches", type=int, default=8, help="batches read, then timed per stage")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1),
                   help="file-reading processes")
    p.add_argument("--threads", type=int, default=4, help="threads of the split-decoding stage")
    p.add_argument("--prepared", action="store_true",
                   help="also time the stages on a copy of the folder resized to 256x256 (as "
                        "python -m alexnet_lib.data.prepare makes; bench train reuses it)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="where to decode and augment (default: cuda if present)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")

    p = sub.add_parser("book", help="execution time of every chapter notebook")
    p.add_argument("--root", default=".", help="repository root (with _toc.yml)")
    p.add_argument("--json", default=None, help="also write a record of the times to this file")

    args = parser.parse_args(argv)
    if args.command == "lrn":
        r = bench_lrn(tuple(args.shape), args.device, args.repeats, getattr(torch, args.dtype),
                      args.channels_last, args.compile)
        layout = "channels_last" if args.channels_last else "NCHW"
        print(f"input {tuple(args.shape)} {args.dtype} {layout} on {args.device}, forward + backward, "
              f"best of {args.repeats}")
        for key, label in LRN_ROWS.items():
            if key in r:
                print(f"{label:<44} {r[key] * 1e3:9.2f} ms")
        for name, error in r.get("errors", {}).items():
            print(f"{name} FAILED: {error}", file=sys.stderr)
        if "speedup" not in r:
            return 1
        print(f"speedup: {r['speedup']:.2f}")
    elif args.command == "train":
        r = run_train_bench(args)  # writes --json itself, after every row
        if r.get("errors"):
            return 1
    elif args.command == "layers":
        r = bench_layers(args.batch_size, args.device, args.repeats, getattr(torch, args.dtype),
                         args.channels_last)
        print(f"AlexNet, batch {args.batch_size}, {args.dtype}, forward + backward per layer on "
              f"{args.device} (best of {args.repeats})")
        print(format_layer_times(r))
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    elif args.command == "ceiling":
        if args.steps < 1 or (args.batch_size is not None and args.batch_size < 1):
            parser.error("ceiling needs --steps >= 1 and --batch-size >= 1")
        variants = VARIANTS if args.batch_size is None else (
            Variant(args.batch_size, None, channels_last=False), Variant(args.batch_size, None))
        r = sweep(args.device, variants, args.steps, args.budget, args.json,
                  header=_provenance(torch.device(args.device)), profile=not args.no_profile,
                  log=lambda m: print(m, flush=True))
        print("\n" + format_sweep(r))
        if not any("images_per_s" in row for row in r["rows"]):
            return 1
    elif args.command == "pipeline":
        if args.batches < 2 or args.threads < 1 or args.batch_size < 1:
            parser.error("pipeline needs --batches >= 2, --threads >= 1 and --batch-size >= 1")
        folder = make_jpeg_folder(Path(args.folder), args.images, tuple(args.image_size))
        r = bench_pipeline_stages(folder, args.batch_size, args.workers, args.device, args.batches,
                                  args.threads)
        r["image_size"] = list(args.image_size)
        if args.prepared:
            prepared = make_prepared_copy(folder)
            r["images_per_s_prepared"] = bench_pipeline_stages(
                prepared, args.batch_size, args.workers, args.device, args.batches,
                args.threads)["images_per_s"]
        print(f"--pipeline gpu on {r['device']}, {r['decoders']}'s decoders, batch {args.batch_size}, "
              f"{r['batches']} batches, {args.workers} workers, images {args.image_size[0]}x"
              f"{args.image_size[1]}")
        print(format_pipeline_stages(r))
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    else:
        bench_book(Path(args.root), json_path=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
