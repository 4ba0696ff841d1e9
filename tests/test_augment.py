"""Section 4.1's augmentations: PCA colour statistics, PCA lighting, crops, flips, 10-crop testing."""

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

from alexnet_lib.augment import (
    PCALighting,
    center_crop,
    crop_flip,
    eval_transform,
    predict_patches,
    predict_ten_crop,
    random_crop_flip,
    rgb_covariance_eig,
    rgb_moments,
    shift_in_grey_levels,
    ten_crop,
    train_transform,
    translations,
)
from alexnet_lib.data import DatasetStatistics, MeanImage, compute_dataset_statistics, compute_mean_image


def correlated_images(n: int = 40, size: int = 12, seed: int = 0) -> torch.Tensor:
    """uint8 images whose RGB values are strongly correlated, like photographs'."""
    g = torch.Generator().manual_seed(seed)
    grey = torch.rand(n, 1, size, size, generator=g) * 180
    tint = torch.rand(n, 3, size, size, generator=g) * torch.tensor([40.0, 20.0, 60.0])[:, None, None]
    return (grey + tint).round().clamp(0, 255).to(torch.uint8)


def test_eigenvectors_reproduce_the_covariance():
    x = correlated_images()
    values, vectors = rgb_covariance_eig(x)
    pixels = x.permute(1, 0, 2, 3).reshape(3, -1).double().numpy()
    cov = np.cov(pixels, bias=True)  # the population covariance of all pixels
    assert np.allclose((vectors @ torch.diag(values) @ vectors.T).numpy(), cov, rtol=1e-9, atol=1e-8)
    assert torch.allclose(vectors.T @ vectors, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert values[0] > values[1] > values[2] > 0  # descending
    assert values.dtype == torch.float64


def test_streaming_equals_one_pass_and_units_follow_the_input():
    x = correlated_images(n=30)
    v_all, e_all = rgb_covariance_eig(x)
    batches = [(x[i:i + 7], torch.zeros(len(x[i:i + 7]))) for i in range(0, 30, 7)]  # DataLoader-like
    v_str, e_str = rgb_covariance_eig(iter(batches))
    assert torch.allclose(v_all, v_str, rtol=1e-10) and torch.allclose(e_all, e_str, atol=1e-10)
    v_unit, e_unit = rgb_covariance_eig(x.float() / 255)
    assert torch.allclose(v_unit * 255**2, v_all, rtol=1e-4)
    assert torch.allclose(e_unit, e_all, atol=1e-4)
    mean, _, count = rgb_moments(x)
    assert count == 30 * 12 * 12
    assert torch.allclose(mean, x.double().mean((0, 2, 3)))


def test_pca_lighting_shift_has_the_papers_statistics():
    values, vectors = rgb_covariance_eig(correlated_images())
    lighting = PCALighting(values / 255**2, vectors, std=0.1)
    n = 40_000
    g = torch.Generator().manual_seed(1)
    out = lighting(torch.zeros(n, 3, 2, 2, dtype=torch.float64), generator=g)
    # One shift per image, the same at every pixel.
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))
    shifts = out[:, :, 0, 0]
    expected = 0.01 * vectors @ torch.diag((values / 255**2) ** 2) @ vectors.T
    assert torch.allclose(lighting.shift_covariance(), expected)
    sd = expected.diagonal().sqrt()
    assert (shifts.mean(0).abs() < 5 * sd / n**0.5).all()  # mean ~ 0
    measured = torch.cov(shifts.T)
    assert torch.allclose(measured, expected, rtol=0.05, atol=0.05 * float(expected.max()))
    # alpha in the eigenbasis: independent components with std 0.1 * l_i
    alpha_l = shifts @ vectors
    assert torch.allclose(alpha_l.std(0), 0.1 * values / 255**2, rtol=0.03)


def test_pca_lighting_stdev_magnitude_and_shape_handling():
    values = torch.tensor([400.0, 25.0, 4.0], dtype=torch.float64)
    vectors = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64,
                                          generator=torch.Generator().manual_seed(0)))[0]
    lighting = PCALighting(values, vectors, std=0.1, magnitude="stdev")
    shifts = lighting.sample_shift(30_000, torch.Generator().manual_seed(2))
    assert torch.allclose((shifts @ vectors).std(0), 0.1 * values.sqrt(), rtol=0.03)
    image = torch.rand(3, 5, 6, dtype=torch.float32)
    assert lighting(image).shape == image.shape and lighting(image).dtype == torch.float32
    assert torch.equal(PCALighting(values, vectors, std=0.0)(image), image)
    with pytest.raises(TypeError):
        lighting(torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError):
        PCALighting(torch.ones(2), vectors)
    # 0.1 * sqrt(400) = 2 units along p1: in 0..255 pixel units that is a 2-level shift.
    assert shift_in_grey_levels(lighting, pixel_scale=255) == pytest.approx(
        (0.01 * float(values.sum()) / 3) ** 0.5, rel=1e-9)


def coordinate_images(n: int, h: int, w: int) -> torch.Tensor:
    """Channel 0 holds the row index, channel 1 the column index, channel 2 the image index."""
    rows = torch.arange(h).view(1, h, 1).expand(n, h, w)
    cols = torch.arange(w).view(1, 1, w).expand(n, h, w)
    idx = torch.arange(n).view(n, 1, 1).expand(n, h, w)
    return torch.stack([rows, cols, idx], 1).float()


def test_random_crops_land_inside_and_flip_half_the_time():
    n, h, w, size = 4000, 13, 11, 8
    x = coordinate_images(n, h, w)
    out = random_crop_flip(x, size, torch.Generator().manual_seed(0))
    assert out.shape == (n, 3, size, size)
    rows, cols = out[:, 0], out[:, 1]
    assert torch.equal(out[:, 2], x[:, 2, :size, :size])  # each image stays itself
    assert (rows >= 0).all() and (rows <= h - 1).all() and (cols >= 0).all() and (cols <= w - 1).all()
    top = rows[:, 0, 0]
    assert torch.equal(rows, top[:, None, None] + torch.arange(size).view(1, size, 1).float()
                       .expand(n, size, size))  # whole rows, in order
    step = cols[:, 0, 1] - cols[:, 0, 0]
    assert set(step.tolist()) == {1.0, -1.0}  # kept or mirrored, nothing else
    flipped = step < 0
    left = torch.where(flipped, cols[:, 0, -1], cols[:, 0, 0])
    assert sorted(set(top.long().tolist())) == list(range(h - size + 1))  # every position used
    assert sorted(set(left.long().tolist())) == list(range(w - size + 1))
    p = flipped.double().mean().item()
    assert abs(p - 0.5) < 4 * (0.25 / n) ** 0.5  # probability 1/2, within 4 standard errors
    # a flipped crop is exactly the mirror of the unflipped crop at the same place
    i = int(torch.nonzero(flipped)[0])
    t, lft = int(top[i]), int(left[i])
    assert torch.equal(out[i], x[i, :, t:t + size, lft:lft + size].flip(-1))


def test_crops_are_deterministic_with_a_generator():
    x = torch.rand(16, 3, 20, 20)
    a = random_crop_flip(x, 15, torch.Generator().manual_seed(7))
    b = random_crop_flip(x, 15, torch.Generator().manual_seed(7))
    c = random_crop_flip(x, 15, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    values, vectors = torch.tensor([3.0, 2.0, 1.0]), torch.eye(3)
    lighting = PCALighting(values, vectors)
    assert torch.equal(lighting(x, torch.Generator().manual_seed(3)),
                       lighting(x, torch.Generator().manual_seed(3)))
    no_flip = random_crop_flip(coordinate_images(50, 9, 9), 5, flip=False)
    assert (no_flip[:, 1, 0, 1] - no_flip[:, 1, 0, 0] == 1).all()


def test_crop_flip_checks_offsets():
    x = torch.rand(2, 3, 10, 10)
    with pytest.raises(ValueError):
        crop_flip(x, torch.tensor([0, 3]), torch.tensor([0, 0]), torch.tensor([False, True]), 8)
    with pytest.raises(ValueError):
        random_crop_flip(x, 11)


def test_ten_crop_is_the_corners_centre_and_their_reflections():
    x = torch.rand(4, 3, 20, 24)
    patches = ten_crop(x, 16)
    assert patches.shape == (10, 4, 3, 16, 16)
    tl, tr, bl, br, centre = (TF.crop(x, t, lft, 16, 16) for t, lft in
                              ((0, 0), (0, 8), (4, 0), (4, 8), (2, 4)))
    for k, patch in enumerate((tl, tr, bl, br, centre)):
        assert torch.equal(patches[k], patch)
        assert torch.equal(patches[k + 5], patch.flip(-1))
    assert torch.equal(patches[4], TF.center_crop(x, 16))
    assert torch.equal(center_crop(x, 16), TF.center_crop(x, 16))
    # the same set of ten patches as torchvision's TenCrop (which orders the flipped ones differently)
    ref = torch.stack([torch.stack(TF.ten_crop(img, 16)) for img in x], 1)
    assert sorted(p.sum().item() for p in patches.unbind(0)) == \
        pytest.approx(sorted(p.sum().item() for p in ref.unbind(0)))


def test_predict_ten_crop_averages_the_softmax_of_the_ten_patches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10 * 10, 5)).eval()
    x = torch.rand(6, 3, 16, 15)
    probs = predict_ten_crop(model, x, 12)
    manual = []
    for t, lft in ((0, 0), (0, 3), (4, 0), (4, 3), (2, 2)):  # centre offsets round(4/2), round(3/2)
        patch = x[:, :, t:t + 12, lft:lft + 12]
        manual += [torch.softmax(model(patch), 1), torch.softmax(model(patch.flip(-1)), 1)]
    expected = torch.stack(manual).mean(0)
    assert probs.shape == (6, 5)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(probs.sum(1), torch.ones(6))
    assert not torch.allclose(probs, torch.softmax(model(center_crop(x, 12)), 1), atol=1e-4)


def test_predict_patches_is_the_centre_patch_or_the_ten_patch_average():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10 * 10, 5)).eval()
    x = torch.rand(6, 3, 16, 15)
    assert torch.equal(predict_patches(model, x, 12), model(center_crop(x, 12)))
    assert torch.equal(predict_patches(model, x, 12, ten=True), predict_ten_crop(model, x, 12))
    # channels-last batches (the training command's) keep their layout into the model
    seen = []
    model[0].register_forward_pre_hook(lambda m, args: seen.append(
        args[0].is_contiguous(memory_format=torch.channels_last)))
    predict_patches(model, x.contiguous(memory_format=torch.channels_last), 12)
    assert seen == [True]
    with pytest.raises(ValueError, match="does not fit"):
        predict_patches(model, x, 17)


def test_per_image_pipelines_match_the_batch_functions():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    tensor = TF.to_tensor(TF.center_crop(TF.resize(image, 36), 36))
    centre = eval_transform(size=32, resize=36)(image)
    assert torch.equal(centre, center_crop(tensor[None], 32)[0])
    tens = eval_transform(size=32, resize=36, ten_crops=True)(image)
    assert torch.equal(tens, ten_crop(tensor[None], 32)[:, 0])
    torch.manual_seed(0)
    crops = {tuple(train_transform(size=32, resize=36)(image).flatten()[:5].tolist()) for _ in range(40)}
    assert len(crops) > 10  # random: many different crops
    values, vectors = torch.tensor([0.05, 0.01, 0.001]), torch.eye(3)
    shifted = train_transform(size=32, resize=36, lighting=PCALighting(values, vectors))(image)
    assert shifted.shape == (3, 32, 32)
    mean = np.full((3, 36, 36), 0.5, dtype=np.float32)
    assert torch.allclose(eval_transform(size=32, resize=36, mean=mean)(image), centre - 0.5)


def test_dataset_statistics_compute_save_and_load(tmp_path):
    x = correlated_images(n=25, size=10)
    stats = compute_dataset_statistics(x, batch_size=4)
    values, vectors = rgb_covariance_eig(x)
    assert np.allclose(stats.rgb_eigenvalues, (values / 255**2).numpy(), rtol=1e-9)
    assert np.allclose(np.abs(stats.rgb_eigenvectors), np.abs(vectors.numpy()), atol=1e-9)
    as_float = torch.utils.data.TensorDataset(x.float() / 255)
    reference = compute_mean_image(as_float, batch_size=6)
    assert np.allclose(stats.image, reference.image, atol=1e-6)
    assert np.allclose(stats.channel_std, reference.channel_std, atol=1e-5)
    from_dataset = compute_dataset_statistics(as_float, batch_size=6)
    assert np.allclose(from_dataset.rgb_eigenvalues, stats.rgb_eigenvalues, rtol=1e-5)
    path = stats.save(tmp_path / "stats.npz")
    loaded = DatasetStatistics.load(path)
    assert np.array_equal(loaded.rgb_eigenvalues, stats.rgb_eigenvalues)
    assert np.array_equal(loaded.rgb_eigenvectors, stats.rgb_eigenvectors)
    assert MeanImage.load(path).count == 25  # still a mean-image file for code that needs only that
    lighting = loaded.lighting(std=0.1)
    assert torch.allclose(lighting.eigenvalues, torch.from_numpy(stats.rgb_eigenvalues))
    plain = DatasetStatistics.load(reference.save(tmp_path / "mean.npz"))
    assert plain.rgb_eigenvalues is None
    with pytest.raises(ValueError):
        plain.lighting()


def test_translation_count():
    assert translations(256, 224) == 33 * 33 * 2  # both ends included
    assert 32 * 32 * 2 == 2048  # the paper's count
    assert translations(72, 64, flips=False) == 81


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_on_the_gpu_match_the_cpu():
    x = torch.rand(32, 3, 40, 40)
    cpu = random_crop_flip(x, 32, torch.Generator().manual_seed(5))
    gpu = random_crop_flip(x.cuda(), 32, torch.Generator().manual_seed(5))
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
    lighting = PCALighting(torch.tensor([0.2, 0.02, 0.004]), torch.eye(3))
    on_gpu = lighting.cuda()(x.cuda().half(), torch.Generator().manual_seed(1))
    assert on_gpu.dtype == torch.float16
    assert torch.allclose(on_gpu.float().cpu(), lighting.cpu()(x, torch.Generator().manual_seed(1)),
                          atol=2e-3)
    assert torch.equal(ten_crop(x.cuda(), 32).cpu(), ten_crop(x, 32))
