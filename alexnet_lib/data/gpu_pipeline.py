"""A GPU input pipeline: JPEG bytes from CPU workers, decoded and augmented on the GPU in batches.

Defined in the book's chapter "Training AlexNet at ImageNet scale"; measured by
``python -m alexnet_lib.bench train``.

Why: decoding and augmenting 224x224 crops on CPU workers caps a modern GPU at a few thousand
images per second (PIL decodes one JPEG per core at a time). Here CPU workers only *read files*
(cheap), the GPU decodes whole batches with nvJPEG (``decode_jpeg`` of torchcodec, or of
torchvision where torchcodec is missing, on a CUDA device), and resizing, cropping, flipping,
PCA lighting and mean subtraction run as batched tensor operations on the GPU. Decoding of batch
k+1 runs on a side CUDA stream while the model trains on batch k.

The same code runs on the CPU (``device="cpu"``): that is how the tests exercise it on machines
without a GPU. Files that are not JPEGs (ImageNet has a PNG named .JPEG) are decoded on the CPU;
files that cannot be decoded at all are skipped and counted in :attr:`GpuJpegPipeline.skipped`.
"""

from __future__ import annotations

import contextlib
import io
import math
import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.datasets import ImageFolder

from ..augment import random_crop_flip
from .errors import CorruptImageError
from .interface import PipelineConfig, worker_init
from .sampling import ResumableSampler, evenly_spaced

__all__ = ["GpuJpegPipeline", "make_gpu_pipeline", "decode_batch", "resize_center_crop", "load_decoders"]

_JPEG_MAGIC = b"\xff\xd8"


class ImageDecoders(NamedTuple):
    """The JPEG and any-format decoders in use, and how they ask for RGB."""

    library: str
    decode_jpeg: Callable  # (tensor or list of tensors, mode=, device=) -> uint8 (3, H, W) each
    decode_image: Callable  # (tensor, mode=) -> uint8 (3, H, W) on the CPU; PNG and the like
    rgb: object


def load_decoders(prefer: str = "torchcodec") -> ImageDecoders:
    """torchcodec's image decoders, or torchvision's where torchcodec is not installed (torchvision
    deprecated its own in 0.29 in favour of torchcodec's; older PyTorch installs, like the lent
    GPU machines' image, have only torchvision's). Both give the same pixels."""
    if prefer == "torchcodec":
        try:
            from torchcodec import decoders
        except ImportError:  # not installed: torchvision's, below
            decoders = None
        if decoders is not None:
            return ImageDecoders("torchcodec", decoders.decode_jpeg, decoders.decode_image,
                                 decoders.ImageReadMode.RGB)
    from torchvision import io

    return ImageDecoders("torchvision", io.decode_jpeg, io.decode_image, io.ImageReadMode.RGB)


DECODERS = load_decoders()
_DECODE_ERRORS = (RuntimeError, ValueError)  # torchcodec: ValueError for an unknown format


def working_decoders(device: torch.device | str, decoders: ImageDecoders | None = None) -> ImageDecoders:
    """``decoders`` (:data:`DECODERS` by default) if they decode a small JPEG on ``device``, else
    torchvision's, with a warning. Without this check, a decoder that fails on some GPU would
    make every file look corrupt and end the run with a misleading "dataset damaged" error."""
    from PIL import Image

    decoders = decoders or DECODERS
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 90)).save(buf, format="JPEG")
    probe = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    try:
        (image,) = decoders.decode_jpeg([probe], mode=decoders.rgb, device=device)
        if tuple(image.shape) == (3, 12, 16):
            return decoders
        problem = f"a 16x12 test JPEG came back with shape {tuple(image.shape)}"
    except Exception as err:  # any failure means: do not use these decoders on this device
        problem = f"{type(err).__name__}: {err}"
    if decoders.library == "torchvision":
        raise RuntimeError(f"cannot decode JPEGs on {device} with torchvision: {problem}")
    warnings.warn(f"{decoders.library} cannot decode JPEGs on {device} ({problem}); using "
                  "torchvision's decoders instead", RuntimeWarning, stacklevel=2)
    return load_decoders(prefer="torchvision")


class _FileBytes(torch.utils.data.Dataset):
    """Item i is (the raw bytes of file i, its label, its index); :func:`_collate` packs a batch."""

    def __init__(self, samples: Sequence[tuple[str, int]]):
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[bytes, int, int]:
        path, label = self.samples[index]
        try:
            data = Path(path).read_bytes()
        except OSError:
            data = b""  # unreadable: skipped after decoding
        return data, label, index


class PackedFiles(NamedTuple):
    """A batch of files as it leaves a loader worker: every file's bytes in one uint8 tensor."""

    data: Tensor  # the files one after another
    lengths: list[int]  # bytes of each file (0: unreadable)
    labels: Tensor
    indices: list[int]

    def files(self) -> tuple[Tensor, ...]:
        """Each file's bytes as a view into :attr:`data` (no copy)."""
        return self.data.split(self.lengths)


def _collate(batch: list[tuple[bytes, int, int]]) -> PackedFiles:
    """Runs in the loader worker. One tensor per batch crosses to the training process through
    shared memory, read there without a copy. A list of ``bytes`` would be pickled through a
    pipe and copied again by the training process, whose one thread also feeds the GPU (256
    files of ImageNet's ~110 KB average make ~28 MB per batch); a tensor per file would need one
    shared-memory file descriptor each, and run out of them."""
    datas, labels, indices = zip(*batch, strict=True)
    lengths = [len(d) for d in datas]
    packed = torch.empty(sum(lengths), dtype=torch.uint8)
    view, offset = packed.numpy(), 0
    for data in datas:
        view[offset : offset + len(data)] = np.frombuffer(data, dtype=np.uint8)
        offset += len(data)
    return PackedFiles(packed, lengths, torch.tensor(labels, dtype=torch.int64), list(indices))


def _resize_center_crop_batch(images: Tensor, size: int) -> Tensor:
    """:func:`resize_center_crop` on a (N, 3, H, W) uint8 batch of images of one shape.

    One ``F.interpolate`` for the whole batch: a few kernel launches per batch instead of per
    image. Returns float32 in [0, 255], a view of the resized batch (not contiguous).
    """
    h, w = images.shape[-2:]
    x = images.float()
    if (h, w) == (size, size):  # a prepared folder (alexnet_lib.data.prepare): nothing to resize
        return x
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[:, :, top : top + size, left : left + size]


def resize_center_crop(image: Tensor, size: int) -> Tensor:
    """The paper's preprocessing on a (3, H, W) uint8 image: shorter side to ``size``, centre crop.

    Images already ``size`` x ``size`` (a folder prepared by ``alexnet_lib.data.prepare``) pass
    through untouched. Returns float32 in [0, 255].
    """
    return _resize_center_crop_batch(image[None], size)[0]


def _as_tensor(data: bytes | Tensor) -> Tensor:
    if isinstance(data, Tensor):
        return data
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)


def decode_batch(datas: Sequence[bytes | Tensor], device: torch.device, size: int = 256,
                 decoders: ImageDecoders | None = None) -> tuple[Tensor, list[int]]:
    """Decode JPEG/PNG files' bytes into a (N, 3, size, size) float32 batch in [0, 1] on ``device``.

    Returns the batch and the positions (into ``datas``) of the images that decoded; the
    others are corrupt or empty and are left out. ``decoders``: :data:`DECODERS` by default.
    """
    dec = decoders or DECODERS
    tensors = [_as_tensor(d) for d in datas]
    images: list[Tensor | None] = [None] * len(tensors)
    jpeg = [i for i, d in enumerate(tensors) if d.numel() > 2 and bytes(d[:2].tolist()) == _JPEG_MAGIC]
    is_jpeg = set(jpeg)
    other = [i for i, d in enumerate(tensors) if i not in is_jpeg and d.numel() > 0]
    if jpeg:
        try:  # one call decodes the whole batch (nvJPEG's batched decoder on a GPU)
            decoded = dec.decode_jpeg([tensors[i] for i in jpeg], mode=dec.rgb, device=device)
            for i, img in zip(jpeg, decoded, strict=True):
                images[i] = img
        except _DECODE_ERRORS:  # a corrupt file fails the batch: find it one by one
            for i in jpeg:
                try:
                    images[i] = dec.decode_jpeg(tensors[i], mode=dec.rgb, device=device)
                except _DECODE_ERRORS:
                    images[i] = None  # undecodable: left out here, recorded by the pipeline
    for i in other:  # PNG saved as .JPEG and the like: decode on the CPU
        try:
            images[i] = dec.decode_image(tensors[i], mode=dec.rgb).to(device)
        except _DECODE_ERRORS:
            images[i] = None  # undecodable: left out here, recorded by the pipeline
    kept = [i for i, img in enumerate(images) if img is not None]
    if not kept:
        return torch.empty(0, 3, size, size, device=device), kept
    decoded = [img for img in images if img is not None]  # in the order of kept
    # Resize images of the same shape together: one interpolation per shape, not per image (on a
    # GPU, per-image resizing launched hundreds of small kernels per batch).
    groups: dict[tuple[int, int], list[int]] = {}
    for j, img in enumerate(decoded):
        groups.setdefault((img.shape[-2], img.shape[-1]), []).append(j)
    if len(groups) == 1:  # e.g. a prepared folder: the batch is already in order
        batch = _resize_center_crop_batch(torch.stack(decoded), size)
        return batch.contiguous().div_(255.0), kept
    batch = torch.empty(len(decoded), 3, size, size, device=device)
    for positions in groups.values():
        group = _resize_center_crop_batch(torch.stack([decoded[j] for j in positions]), size)
        batch[torch.tensor(positions, device=device)] = group  # back in the original order
    return batch.div_(255.0), kept


class GpuJpegPipeline:
    """``--pipeline gpu``: batches decoded and augmented on ``device``; keeps the contract of
    :mod:`alexnet_lib.data.pipeline` (order, sharding, resuming, skipped files, output format).

    Args:
        samples: ``(path, label)`` of every file of the split, e.g. ``ImageFolder(...).samples``.
        config: the :class:`~alexnet_lib.data.pipeline.PipelineConfig`; uses ``batch_size``,
            ``workers``, ``image_size``, ``crop_size``, ``statistics`` (mean image and RGB PCA in
            [0, 1] units), ``lighting_std``, ``input_scale``, ``seed``, ``rank``, ``world_size``
            and ``channels_last``. Only ``augment="paper"`` is supported.
        train: random crops, flips and PCA lighting, shuffled (True), or whole stored images in
            order (False; the evaluation takes its crops on the device).
        device: where to decode and augment (``cuda`` for nvJPEG; ``cpu`` works too).
        classes: the class names, kept for the caller.
        background: prepare batches in a background thread (default: on CUDA devices only).
        prefetch: batches prepared ahead in the background.
    """

    def __init__(self, samples: Sequence[tuple[str | Path, int]], config: PipelineConfig,
                 train: bool, device: torch.device | str, classes: Sequence[str] = (),
                 background: bool | None = None, prefetch: int = 3) -> None:
        if config.augment != "paper":
            raise ValueError("--pipeline gpu implements the paper's augmentation only; use "
                             "--pipeline cpu for --augment torchvision")
        if config.statistics is None:
            raise ValueError("the pipeline needs the training set's statistics (config.statistics)")
        self.config, self.train, self.classes = config, train, tuple(classes)
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:  # streams need an index
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.decoders = working_decoders(self.device)
        self.dataset = _FileBytes([(str(p), int(y)) for p, y in samples])
        self.skipped: list[tuple[str, str]] = []
        self.sampler = ResumableSampler(self.dataset, shuffle=train, seed=config.seed,
                                        rank=config.rank, world_size=config.world_size,
                                        batch_size=config.batch_size)
        stats = config.statistics
        self.mean = torch.as_tensor(np.asarray(stats.image), dtype=torch.float32).to(self.device)
        # The lighting module stays on the CPU with the generator: it draws the shifts there and
        # sends them to the device (a copy to a GPU does not wait for it; a copy back would).
        self.lighting = stats.lighting(config.lighting_std) if train and config.lighting_std > 0 else None
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=config.batch_size, sampler=self.sampler, collate_fn=_collate,
            num_workers=config.workers, persistent_workers=config.workers > 0,
            prefetch_factor=4 if config.workers > 0 else None,
            worker_init_fn=worker_init if config.workers else None)
        self.epoch, self.first_batch = 0, 0
        self.background = self.device.type == "cuda" if background is None else background
        self.prefetch = prefetch

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Choose the epoch's order and skip its first ``skip_batches`` batches (to resume)."""
        self.epoch, self.first_batch = epoch, skip_batches
        self.sampler.set_epoch(epoch, skip_batches)

    def augmentation_generator(self, batch: int) -> torch.Generator:
        """The CPU generator of the crops, flips and lighting of batch ``batch`` of this epoch.

        A pure function of (seed, epoch, rank, batch index): data-parallel ranks draw their own
        augmentation (with one generator for all, every rank drew the same), and an epoch resumed
        at batch k draws for batch k what the uninterrupted epoch drew, with nothing to replay.
        """
        key = np.random.SeedSequence([self.config.seed, self.epoch, self.config.rank, batch])
        return torch.Generator().manual_seed(int(key.generate_state(1, np.uint64)[0]))

    def __len__(self) -> int:
        return math.ceil(self.sampler.num_samples / self.config.batch_size)

    def _decode_filling(self, datas: Sequence[bytes | Tensor], indices: list[int],
                        labels: Tensor) -> tuple[Tensor, Tensor]:
        """Decode a batch; an undecodable file is recorded and replaced by the next good one, so
        the batch keeps its size (all data-parallel ranks must take the same number of steps).
        Returns the images and their labels: a replacement brings its own label, as on the CPU
        path (:class:`~alexnet_lib.data.pipeline.SkipCorrupt`)."""
        size = self.config.image_size
        batch, kept = decode_batch(datas, self.device, size, self.decoders)
        if len(kept) == len(datas):
            return batch, labels
        good = dict(zip(kept, batch, strict=True))
        labels = labels.clone()  # the loader's tensor is left as it came
        n = len(self.dataset)
        for pos in sorted(set(range(len(datas))) - set(kept)):
            self.skipped.append((self.dataset.samples[indices[pos]][0], "cannot be decoded"))
            for k in range(1, min(n, 100)):
                data, label, _ = self.dataset[(indices[pos] + k) % n]
                image, ok = decode_batch([data], self.device, size, self.decoders)
                if ok:
                    # The replacement's own label: the corrupt file's would mislabel this image.
                    good[pos], labels[pos] = image[0], label
                    break
                self.skipped.append((self.dataset.samples[(indices[pos] + k) % n][0],
                                     "cannot be decoded"))
            else:
                raise CorruptImageError(self.dataset.samples[indices[pos]][0],
                                        "100 files in a row cannot be decoded; is the dataset damaged?")
        return torch.stack([good[pos] for pos in range(len(datas))]), labels

    def _prepare(self, batch: PackedFiles, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x, labels = self._decode_filling(batch.files(), batch.indices, batch.labels)
        x = x - self.mean  # mean before cropping
        if self.train:
            x = random_crop_flip(x, self.config.crop_size, generator=generator)
            if self.lighting is not None:
                x = self.lighting(x, generator)
        if self.config.input_scale != 1.0:
            x = x.mul_(self.config.input_scale)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, labels.to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        # Crop offsets, flips and lighting draws come from a CPU generator (a few numbers per
        # image), so a seed gives the same augmentation on any device; one generator per batch
        # (augmentation_generator), numbered from the first batch not skipped.
        if not self.background:
            for i, batch in enumerate(self.loader, start=self.first_batch):
                yield self._prepare(batch, self.augmentation_generator(i))
            return
        yield from self._iter_background()

    def _iter_background(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Prepare batches in a background thread (on its own CUDA stream) while the caller
        trains: decoding launches hundreds of small kernels per batch, and doing that on the
        training thread would serialise it with the training step's own kernel launches."""
        on_cuda = self.device.type == "cuda"
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce() -> None:
            try:
                if on_cuda:
                    torch.cuda.set_device(self.device)
                stream = torch.cuda.Stream(self.device) if on_cuda else None
                with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                    for i, batch in enumerate(self.loader, start=self.first_batch):
                        if stop.is_set():
                            return
                        x, y = self._prepare(batch, self.augmentation_generator(i))
                        done = torch.cuda.Event() if on_cuda else None
                        if done is not None:
                            done.record(stream)
                        ready.put((x, y, done))
                ready.put(_END)
            except BaseException as err:  # re-raised in the training thread
                ready.put(_Failure(err))

        thread = threading.Thread(target=produce, name="gpu-pipeline", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                x, y, done = item
                if done is not None:
                    current = torch.cuda.current_stream(self.device)
                    current.wait_event(done)  # the batch is complete before training reads it
                    x.record_stream(current)  # and its memory is not reused while training does
                    y.record_stream(current)
                yield x, y
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)
            thread.join()


_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def make_gpu_pipeline(split: str, config: PipelineConfig, device: torch.device) -> GpuJpegPipeline:
    """The ``"gpu"`` kind of :func:`~alexnet_lib.data.pipeline.make_pipeline` for an image folder."""
    if config.dataset != "imagenet" or config.root is None:
        raise ValueError("--pipeline gpu reads JPEG files: give --data PATH to an image folder "
                         "(write the built-in data as one with alexnet_lib.data.write_image_folder)")
    folder = ImageFolder(str(Path(config.root) / split))
    samples = folder.samples
    limit = config.train_images if split == "train" else config.val_images
    samples = [samples[i] for i in evenly_spaced(len(samples), limit)]  # every class stays
    return GpuJpegPipeline(samples, config, split == "train", device, folder.classes,
                           background=config.extra.get("background"))
