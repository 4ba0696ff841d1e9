"""The GPU input pipeline (alexnet_lib.data.gpu_pipeline), exercised on its CPU code path.

On a machine with a GPU the same code decodes with nvJPEG; here it runs with device="cpu".
"""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet_lib.data import DatasetStatistics, gpu_pipeline, write_image_folder
from alexnet_lib.data.gpu_pipeline import (
    DECODERS,
    GpuJpegPipeline,
    PackedFiles,
    _collate,
    _FileBytes,
    decode_batch,
    resize_center_crop,
)
from alexnet_lib.data.pipeline import PipelineConfig, make_pipeline

SIZE, CROP = 48, 40


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("jpegs")
    write_image_folder(root, size=(80, 60), train_per_class=3, val_per_class=1, seed=0)
    return root


def _stats() -> DatasetStatistics:
    return DatasetStatistics(image=np.full((3, SIZE, SIZE), 0.5, np.float32),
                             channel_mean=np.full(3, 0.5, np.float32),
                             channel_std=np.full(3, 0.25, np.float32), count=1,
                             rgb_eigenvalues=np.array([0.2, 0.02, 0.005]), rgb_eigenvectors=np.eye(3))


def _config(folder: Path, **kw) -> PipelineConfig:
    base = dict(dataset="imagenet", root=folder, image_size=SIZE, crop_size=CROP, batch_size=8,
                workers=0, statistics=_stats())
    return PipelineConfig(**(base | kw))


def _samples(root: Path, split: str) -> list[tuple[str, int]]:
    classes = sorted(p.name for p in (root / split).iterdir())
    return [(str(f), c) for c, name in enumerate(classes) for f in sorted((root / split / name).glob("*"))]


def test_decode_matches_pil_and_resizes(folder):
    samples = _samples(folder, "val")
    datas = [Path(p).read_bytes() for p, _ in samples]
    batch, kept = decode_batch(datas, torch.device("cpu"), size=SIZE)
    assert batch.shape == (len(samples), 3, SIZE, SIZE) and kept == list(range(len(samples)))
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    # Same pixels as PIL's decode (shorter side already 60: only the centre crop applies).
    full, _ = decode_batch(datas[:1], torch.device("cpu"), size=60)
    pil = np.asarray(Image.open(samples[0][0]).convert("RGB").crop((10, 0, 70, 60)), dtype=np.float32)
    ours = full[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(ours - pil).mean() < 2.0  # decoders may differ by a grey level here and there


def test_resize_shorter_side_then_centre():
    img = torch.zeros(3, 60, 120, dtype=torch.uint8)
    img[:, :, 30:90] = 255  # the centre band survives a shorter-side resize + centre crop
    out = resize_center_crop(img, 30)
    assert out.shape == (3, 30, 30) and out[:, :, 2:-2].min() > 250  # edges blur (antialias)


def _encoded(height: int, width: int, seed: int, format: str = "JPEG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=format)
    return buf.getvalue()


def test_mixed_shapes_resize_in_groups_like_one_by_one():
    """Images are resized in groups of one shape; each must come back in its own place, equal to
    resizing it alone."""
    shapes = [(375, 500), (500, 375), (375, 500), (300, 300), (256, 256), (500, 375), (375, 500),
              (256, 256), (300, 300)]
    datas = [_encoded(h, w, seed) for seed, (h, w) in enumerate(shapes)]
    datas.insert(4, b"\xff\xd8 a corrupt JPEG")  # left out; later images keep their order
    datas.append(_encoded(200, 320, 99, format="PNG"))  # decoded on the CPU, its own group
    batch, kept = decode_batch(datas, torch.device("cpu"), size=256)
    assert kept == [i for i in range(len(datas)) if i != 4]
    assert batch.shape == (len(kept), 3, 256, 256) and batch.dtype == torch.float32
    expected = torch.stack([
        resize_center_crop(DECODERS.decode_image(torch.frombuffer(bytearray(datas[i]), dtype=torch.uint8),
                                                 mode=DECODERS.rgb), 256) / 255.0
        for i in kept])
    torch.testing.assert_close(batch, expected, atol=0, rtol=0)  # exact: same arithmetic per image


def test_torchcodec_and_torchvision_decode_the_same(monkeypatch):
    """torchcodec's decoders are used when installed, torchvision's otherwise: same batches, the
    same corrupt file left out."""
    assert DECODERS.library == "torchcodec", "torchcodec, a project dependency, does not import"
    datas = [_encoded(375, 500, 0), b"\xff\xd8 corrupt", _encoded(256, 256, 1),
             _encoded(90, 120, 2, format="PNG"), b"neither JPEG nor PNG"]
    results = {}
    for library in ("torchcodec", "torchvision"):
        monkeypatch.setattr(gpu_pipeline, "DECODERS", gpu_pipeline.load_decoders(prefer=library))
        assert gpu_pipeline.DECODERS.library == library
        results[library] = decode_batch(datas, torch.device("cpu"), size=64)
    (a, kept_a), (b, kept_b) = results["torchcodec"], results["torchvision"]
    assert kept_a == kept_b == [0, 2, 3]
    assert torch.equal(a, b)


def test_decoders_that_fail_on_the_device_give_way_to_torchvision(folder):
    """A decoder failing on a device (e.g. torchcodec on an untested GPU) would make every file look
    corrupt; the pipeline checks it once and falls back to torchvision's, saying so."""
    def broken(*args, **kwargs):
        raise RuntimeError("no decoder for this device")

    # Named torchcodec whatever is installed: the fallback is what is tested.
    bad = DECODERS._replace(library="torchcodec", decode_jpeg=broken)
    assert gpu_pipeline.working_decoders("cpu", DECODERS) is DECODERS
    with pytest.warns(RuntimeWarning, match="torchcodec cannot decode JPEGs on cpu.*torchvision"):
        assert gpu_pipeline.working_decoders("cpu", bad).library == "torchvision"
    with pytest.raises(RuntimeError, match="cannot decode JPEGs on cpu with torchvision"):
        gpu_pipeline.working_decoders("cpu", bad._replace(library="torchvision"))


def test_corrupt_files_are_replaced_and_png_decodes(folder, tmp_path):
    samples = _samples(folder, "val")[:4]
    png_as_jpeg = tmp_path / "png_saved_as.JPEG"
    Image.new("RGB", (70, 50), (200, 10, 10)).save(png_as_jpeg, format="PNG")
    truncated = tmp_path / "truncated.JPEG"
    truncated.write_bytes(Path(samples[0][0]).read_bytes()[:200])
    garbage = tmp_path / "garbage.JPEG"
    garbage.write_bytes(b"not an image at all")
    bad = samples + [(str(png_as_jpeg), 0), (str(truncated), 1), (str(garbage), 2)]
    pipe = GpuJpegPipeline(bad, _config(folder, batch_size=len(bad)), train=False, device="cpu")
    pipe.set_epoch(0)
    (x, y), = list(pipe)
    assert x.shape == (7, 3, SIZE, SIZE) and len(y) == 7  # the batch keeps its size
    # garbage.JPEG is met twice: as the stand-in tried for truncated.JPEG, then in its own place
    assert sorted({Path(p).name for p, _ in pipe.skipped}) == ["garbage.JPEG", "truncated.JPEG"]
    red = x[4] + 0.5  # the PNG, mean added back
    assert red[0].mean() > 0.7 and red[1].mean() < 0.1


def test_train_batches_augmented_deterministic_and_resumable(folder):
    def epoch(seed: int, skip: int = 0) -> list[torch.Tensor]:
        pipe = make_pipeline("gpu", "train", _config(folder, seed=seed), "cpu")
        pipe.set_epoch(0, skip_batches=skip)
        assert len(pipe) == 4  # 30 images, batches of 8
        return [x for x, _ in pipe]

    a, b, c = epoch(0), epoch(0), epoch(1)
    assert [x.shape[0] for x in a] == [8, 8, 8, 6] and a[0].shape[1:] == (3, CROP, CROP)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    assert len(epoch(0, skip=3)) == 1
    assert -0.3 < torch.cat(a).mean() < 0.3  # mean-subtracted


def test_eval_batches_are_whole_stored_images(folder):
    pipe = make_pipeline("gpu", "val", _config(folder, batch_size=4), "cpu")
    pipe.set_epoch(0)
    batches = list(pipe)
    assert [x.shape for x, _ in batches] == [(4, 3, SIZE, SIZE)] * 2 + [(2, 3, SIZE, SIZE)]
    labels = torch.cat([y for _, y in batches]).tolist()
    assert labels == list(range(10))  # in order, one per class


def test_workers_scale_and_channels_last(folder):
    cfg = _config(folder, workers=2, channels_last=True, input_scale=255.0, batch_size=10)
    pipe = make_pipeline("gpu", "train", cfg, "cpu")
    pipe.set_epoch(1)
    batches = list(pipe)
    assert len(batches) == 3
    assert batches[0][0].is_contiguous(memory_format=torch.channels_last)
    assert batches[0][0].abs().max() > 50  # 0..255 units


def test_workers_send_each_batch_packed_in_one_tensor(folder, tmp_path):
    """Loader workers pack a batch's files into one uint8 tensor; the views give back every
    file's bytes exactly, an unreadable (empty) one included, in order."""
    samples = _samples(folder, "train")[:5] + [(str(tmp_path / "missing.JPEG"), 0)]
    loader = torch.utils.data.DataLoader(_FileBytes(samples), batch_size=6, num_workers=2,
                                         collate_fn=_collate)
    (batch,) = list(loader)
    assert batch.data.dtype == torch.uint8 and batch.data.dim() == 1
    files = batch.files()
    assert [bytes(f.numpy()) for f in files] == [Path(p).read_bytes() if Path(p).exists() else b""
                                                 for p, _ in samples]
    assert all(f.untyped_storage().data_ptr() == batch.data.untyped_storage().data_ptr() for f in files)
    assert batch.labels.tolist() == [y for _, y in samples] and batch.indices == list(range(6))
    assert _collate([(b"", 3, 0)]).lengths == [0]


def test_workers_give_the_same_batches_as_none(folder):
    batches = []
    for workers in (0, 2):
        pipe = make_pipeline("gpu", "train", _config(folder, workers=workers), "cpu")
        pipe.set_epoch(1)
        batches.append(list(pipe))
    for (x0, y0), (x2, y2) in zip(*batches, strict=True):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)


def test_augmenting_a_batch_never_reads_values_back_from_the_device(folder, monkeypatch):
    """On a GPU, reading a value back (``.item()``, ``if tensor.any()``, a copy to the CPU) stops
    the pipeline's thread until all the work queued on the device is done. On the meta device any
    such read fails, so the augmentation running there proves it does none."""
    cfg = _config(folder, channels_last=True, input_scale=2.0)
    monkeypatch.setattr(gpu_pipeline, "working_decoders", lambda device: DECODERS)  # none on meta
    pipe = GpuJpegPipeline(_samples(folder, "train"), cfg, train=True, device="meta")
    monkeypatch.setattr(pipe, "_decode_filling",
                        lambda datas, indices, labels: (torch.empty(len(datas), 3, SIZE, SIZE,
                                                                    device="meta"), labels))
    batch = PackedFiles(torch.zeros(8, dtype=torch.uint8), [1] * 8, torch.zeros(8, dtype=torch.int64),
                        list(range(8)))
    x, y = pipe._prepare(batch, torch.Generator().manual_seed(0))
    assert pipe.lighting is not None  # crops, flips, PCA lighting, scaling: all ran
    assert x.device.type == "meta" and x.shape == (8, 3, CROP, CROP) and y.device.type == "meta"


def test_rejects_what_it_cannot_do(folder):
    with pytest.raises(ValueError, match="--data PATH"):
        make_pipeline("gpu", "train", _config(folder, dataset="builtin"), "cpu")
    with pytest.raises(ValueError, match="paper's augmentation only"):
        make_pipeline("gpu", "train", _config(folder, augment="torchvision"), "cpu")


def test_background_thread_gives_the_same_batches(folder):
    """The background-thread path (the default on a GPU) yields exactly the sequential batches."""
    def run(background: bool, stop_after: int | None = None) -> list[torch.Tensor]:
        cfg = _config(folder, seed=3, extra={"background": background})
        pipe = make_pipeline("gpu", "train", cfg, "cpu")
        pipe.set_epoch(2)
        out = []
        for i, (x, _) in enumerate(pipe):
            out.append(x)
            if stop_after is not None and i + 1 == stop_after:
                break  # leaving early must stop the thread cleanly
        return out

    seq, bg = run(False), run(True)
    assert len(seq) == len(bg) == 4 and all(torch.equal(a, b) for a, b in zip(seq, bg, strict=True))
    assert len(run(True, stop_after=1)) == 1


def test_background_thread_reraises_errors(folder, monkeypatch):
    pipe = make_pipeline("gpu", "train", _config(folder, extra={"background": True}), "cpu")

    def broken(*args, **kwargs):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(pipe, "_prepare", broken)
    with pytest.raises(RuntimeError, match="decoder exploded"):
        list(pipe)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_cuda_pipeline_matches_the_cpu_path(folder):
    """On a GPU: nvJPEG decoding, the side stream and the background thread give the batches of
    the CPU code path (to JPEG decoders' rounding), the same with and without the thread."""
    def batches(device: str, background: bool) -> list[torch.Tensor]:
        cfg = _config(folder, seed=3, channels_last=True, extra={"background": background})
        pipe = make_pipeline("gpu", "train", cfg, device)
        pipe.set_epoch(2)
        return [x.cpu() for x, _ in pipe]

    cpu, fg, bg = batches("cpu", False), batches("cuda", False), batches("cuda", True)
    assert len(cpu) == len(fg) == len(bg) == 4
    for c, f, b in zip(cpu, fg, bg, strict=True):
        assert torch.equal(f, b)
        assert (f - c).abs().mean() < 0.01 and (f - c).abs().max() < 0.15  # IDCTs differ slightly


def test_a_replacement_image_brings_its_own_label(folder, tmp_path):
    """A corrupt file's place is taken by the next good file, with that file's label (as on the
    CPU path, SkipCorrupt): the batch keeps its size, and no image is trained on a wrong label."""
    good = _samples(folder, "val")
    corrupt = tmp_path / "corrupt.JPEG"
    corrupt.write_bytes(b"\xff\xd8 not really a JPEG")
    samples = [good[0], (str(corrupt), 7), good[4], good[8]]  # labels 0, 7, 4, 8
    pipe = GpuJpegPipeline(samples, _config(folder, batch_size=4), train=False, device="cpu")
    pipe.set_epoch(0)
    (x, y), = list(pipe)
    assert len(y) == 4 and torch.equal(x[1], x[2])  # the next file took the corrupt one's place
    assert y.tolist() == [0, 4, 4, 8]
    assert [Path(p).name for p, _ in pipe.skipped] == ["corrupt.JPEG"]


def test_ranks_draw_their_own_augmentation_and_a_resumed_epoch_draws_the_same(folder):
    """The crops, flips and lighting of a batch depend on (seed, epoch, rank, batch index) only:
    data-parallel ranks draw differently, and an epoch resumed at batch k draws for batch k what
    the uninterrupted epoch drew."""
    one = _samples(folder, "train")[:1] * 16  # one image only: batches differ by augmentation alone

    def first_batch(rank: int) -> torch.Tensor:
        pipe = GpuJpegPipeline(one, _config(folder, rank=rank, world_size=2), train=True, device="cpu")
        pipe.set_epoch(0)
        return next(iter(pipe))[0]

    assert not torch.equal(first_batch(0), first_batch(1))

    def epoch(skip: int, background: bool = False) -> list[torch.Tensor]:
        cfg = _config(folder, seed=5, extra={"background": background})
        pipe = make_pipeline("gpu", "train", cfg, "cpu")
        pipe.set_epoch(1, skip_batches=skip)
        return [x for x, _ in pipe]

    whole = epoch(0)
    for resumed in (epoch(2), epoch(2, background=True)):
        assert len(resumed) == 2
        assert all(torch.equal(a, b) for a, b in zip(resumed, whole[2:], strict=True))
