"""alexnet_lib.inspect_net: features, neighbour search and the record, on a tiny net and tiny data
(the book's record comes from a longer run)."""

import json

import numpy as np
import pytest
import torch

from alexnet_lib.data.builtin import generate_image
from alexnet_lib.experiments.augmentation import small_alexnet
from alexnet_lib.inspect_net import (
    class_agreement,
    column_colourfulness,
    distance_percentile,
    fc7_features,
    inspect_experiment,
    load_record,
    nearest_neighbours,
    pixel_features,
    redraw,
    run,
    save_record,
    squared_distances,
)

TINY = dict(n_train=40, n_test=20, image_size=72, crop=64, epochs=1, batch_size=20,
            lr_drops=(), k=3, n_queries=2, n_agreement=10)


@pytest.fixture(scope="module")
def tiny_result():
    return inspect_experiment(**TINY)


def brute_force(queries, keys, k):
    """Every distance by a plain loop, sorted by (distance, index)."""
    out_idx, out_dist = [], []
    for q in queries.double():
        d = [float(((x.double() - q) ** 2).sum().sqrt()) for x in keys]
        order = sorted(range(len(keys)), key=lambda i: (d[i], i))[:k]
        out_idx.append(order)
        out_dist.append([d[i] for i in order])
    return out_idx, out_dist


def test_nearest_neighbours_are_the_brute_force_ones():
    g = torch.Generator().manual_seed(0)
    keys, queries = torch.randn(50, 7, generator=g), torch.randn(6, 7, generator=g)
    idx, dist = nearest_neighbours(queries, keys, k=4, chunk=16)  # several chunks
    want_idx, want_dist = brute_force(queries, keys, 4)
    assert idx.tolist() == want_idx
    assert np.allclose(dist.numpy(), want_dist, rtol=0, atol=1e-12)


def test_nearest_neighbours_ties_go_to_the_lower_index_and_self_is_nearest():
    keys = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [3.0, 3.0]])
    idx, dist = nearest_neighbours(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), keys, k=3)
    assert idx.tolist() == [[1, 0, 2], [0, 3, 1]]
    assert dist[0].tolist() == [0.0, 1.0, 1.0] and dist[1].tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(keys, keys, k=6)


def test_distance_percentile_is_the_share_of_closer_keys():
    keys = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    d2 = squared_distances(torch.tensor([[0.0], [3.0]]), keys)
    assert torch.equal(d2, torch.tensor([[0.0, 1, 4, 9], [9, 4, 1, 0]], dtype=torch.float64))
    p = distance_percentile(d2, torch.tensor([[0, 3], [0, 2]]))
    assert p.tolist() == [[0.0, 0.75], [0.75, 0.25]]


def test_class_agreement_counts_pairs_of_the_same_class():
    key_labels = torch.tensor([0, 1, 0, 2])
    neighbours = torch.tensor([[0, 2], [1, 3]])
    assert class_agreement(neighbours, key_labels, torch.tensor([0, 2])) == 3 / 4


def test_fc7_features_are_the_last_hidden_layer():
    torch.manual_seed(0)
    net = small_alexnet(64, width=0.1, hidden=16).eval()
    x = torch.randn(5, 3, 72, 72)
    f = fc7_features(net, x, crop=64, batch_size=2)
    assert f.shape == (5, 16) and bool((f >= 0).all())  # after the ReLU
    # fc8 of these features is the network's output: nothing lies between them in eval mode.
    centre = x[..., 4:68, 4:68]
    assert torch.allclose(net.classifier.fc8(f), net(centre), atol=1e-6)


def test_pixel_features_are_the_centre_patch_in_unit_range():
    images = torch.randint(0, 256, (3, 3, 72, 72), dtype=torch.uint8)
    p = pixel_features(images, 64)
    assert p.shape == (3, 3 * 64 * 64)
    assert torch.equal(p[1], images[1, :, 4:68, 4:68].float().div(255).flatten())


def test_column_colourfulness_splits_the_kernels_in_order():
    w = torch.zeros(4, 3, 5, 5)
    w[:2] = 1.0  # grey: 0
    w[2:, 0], w[2:, 1] = 1.0, -1.0  # colour-opponent: 1
    assert column_colourfulness(w) == [0.0, 1.0]


def test_tiny_experiment_neighbours_match_its_features(tiny_result):
    r = tiny_result
    cfg = r["config"]
    assert cfg["style"] == "natural" and cfg["threads"] == 1
    assert np.asarray(r["conv1"]).shape == (24, 3, 11, 11)
    per_kernel = r["conv1_colourfulness_per_kernel"]
    assert np.allclose([np.mean(per_kernel[:12]), np.mean(per_kernel[12:])],
                       r["conv1_colourfulness_per_column"], atol=1e-4)
    assert len(r["conv1_colourfulness_per_column"]) == 2
    assert r["history"]["test_error"][-1] == r["test_error"]
    q = r["queries"]
    assert len(q["test_indices"]) == 2 and len(set(q["test_indices"])) == 2
    for kind in ("fc7", "pixels"):
        for row, index in zip(q[kind], q["test_indices"], strict=True):
            assert row["query"] == index and len(row["neighbours"]) == 3
            assert all(0 <= i < TINY["n_train"] for i in row["neighbours"])
            assert row["distances"] == sorted(row["distances"])
            assert len(row["pixel_distances"]) == 3
        assert [r["distances"] for r in q["pixels"]] == [r["pixel_distances"] for r in q["pixels"]]
    for kind in ("fc7", "pixels"):
        agree = r["agreement"][kind]
        assert 0 <= agree["pixel_percentile_median"] <= 1
        labels = torch.tensor(agree["neighbours"]) % 10  # the built-in label of item i
        assert labels.shape == (10, 3)
        assert agree["k"] == class_agreement(torch.tensor(agree["neighbours"]),
                                             torch.arange(TINY["n_train"]) % 10,
                                             torch.arange(10) % 10)
        assert 0 <= agree["k"] <= 1 and abs(10 * agree["first"] - round(10 * agree["first"])) < 1e-9


def test_pixel_neighbours_recomputed_from_the_generator(tiny_result):
    """The stored pixel-space neighbours are the brute-force ones over redrawn images."""
    cfg = tiny_result["config"]
    keys = torch.stack([torch.from_numpy(redraw(i, cfg)).permute(2, 0, 1)
                        for i in range(cfg["n_train"])]).float().div(255).flatten(1)
    for row in tiny_result["queries"]["pixels"]:
        query = torch.from_numpy(redraw(row["query"], cfg, "val")).permute(2, 0, 1)
        want_idx, want_dist = brute_force(query.float().div(255).flatten()[None], keys, 3)
        assert row["neighbours"] == want_idx[0]
        assert np.allclose(row["distances"], want_dist[0], atol=1e-4)


def test_redraw_is_the_generators_centre_patch():
    cfg = dict(image_size=72, crop=64, seed=0, style="natural")
    image, _ = generate_image(7, "val", 72, 0, "natural")
    assert np.array_equal(redraw(7, cfg, "val"), image[4:68, 4:68])


def test_record_round_trips(tiny_result, tmp_path):
    path = save_record(tiny_result, tmp_path / "r.json", command="python -m x --epochs 1")
    back = load_record(path)
    assert back["result"] == json.loads(json.dumps(tiny_result))
    assert back["command"] == "python -m x --epochs 1" and back["experiment"] == "trained_net"
    assert back["config"] == back["result"]["config"] and back["hardware"]["threads"] == 1
    assert back["commit"]


def test_command_line_writes_the_record(tmp_path):
    out = tmp_path / "trained_net.json"
    argv = ["--n-train", "20", "--n-test", "10", "--epochs", "1", "--n-queries", "1",
            "--n-agreement", "10", "--style", "shapes", "--out", str(out), "--no-progress"]
    run(argv)
    record = load_record(out)
    assert record["command"] == "python -m alexnet_lib.inspect_net " + " ".join(argv)
    assert record["config"]["n_train"] == 20 and record["config"]["style"] == "shapes"
