"""Connection patterns, weight initialisers and their parameter checks."""

import numpy as np
import pytest
import torch

from soen_train.model import CONNECTION_PATTERNS, WEIGHT_INITS, ArchitectureError
from soen_train.model.connectivity import build_mask, init_weights


def mask(pattern, n_from, n_to, allow_self=True, seed=0, **params):
    return build_mask(pattern, n_from, n_to, params, allow_self=allow_self,
                      generator=torch.Generator().manual_seed(seed))


def test_deterministic_patterns():
    assert torch.equal(mask("all_to_all", 3, 2), torch.ones(2, 3))
    assert torch.equal(mask("one_to_one", 3, 2), torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    assert torch.equal(mask("one_to_one", 4, 2, source_start_node_id=2, source_end_node_id=3),
                       torch.tensor([[0, 0, 1.0, 0], [0, 0, 0, 1.0]]))
    # source j -> target j + 1 for j < from - 1 only (a 3 -> 5 chain has 2 edges)
    assert torch.equal(mask("chain", 3, 3), torch.tensor([[0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]))
    assert mask("chain", 3, 5).sum().item() == 2
    assert torch.equal(mask("inverse_one_to_one", 2, 2), torch.tensor([[0, 1.0], [1.0, 0]]))
    assert torch.equal(mask("dense", 3, 3, allow_self=False), 1 - torch.eye(3))
    blocks = mask("block_structure", 4, 4, block_count=2, connection_mode="diagonal",
                  within_block_density=1.0, cross_block_density=0.0)
    assert torch.equal(blocks, torch.block_diag(torch.ones(2, 2), torch.ones(2, 2)))
    full = mask("block_structure", 4, 4, block_count=2, connection_mode="full",
                within_block_density=1.0, cross_block_density=1.0)
    assert torch.equal(full, torch.ones(4, 4))


def test_sparse_is_seeded_with_the_requested_density():
    first = mask("sparse", 60, 50, sparsity=0.3, seed=1)
    assert torch.equal(first, mask("sparse", 60, 50, sparsity=0.3, seed=1))
    assert not torch.equal(first, mask("sparse", 60, 50, sparsity=0.3, seed=2))
    assert abs(first.mean().item() - 0.3) < 0.03
    assert torch.equal(mask("sparse", 10, 10, sparsity=1.0), torch.ones(10, 10))


def test_distance_patterns_give_every_source_exactly_k_targets():
    for pattern, params in (("power_law", {"alpha": 2.0}), ("exponential", {"d_0": 1.5})):
        m = mask(pattern, 64, 64, expected_fan_out=6, **params)
        assert torch.equal(m.sum(0), torch.full((64,), 6.0))
    exact = mask("constant", 20, 30, expected_fan_out=4)
    assert torch.equal(exact.sum(0), torch.full((20,), 4.0))
    assert mask("power_law", 5, 5, expected_fan_out=0).sum().item() == 0


def test_hierarchical_blocks_tiers():
    m = mask("hierarchical_blocks", 8, 8, levels=3, base_size=2, tier_fractions=[1.0, 0.0, 0.0])
    assert torch.equal(m, torch.block_diag(*[torch.ones(2, 2)] * 4))
    with pytest.raises(ArchitectureError, match="square 8 x 8"):
        mask("hierarchical_blocks", 6, 6, levels=3, base_size=2)


def test_custom_mask_and_weights_from_files(tmp_path):
    pattern = np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32)
    np.savez(tmp_path / "mask.npz", mask=pattern)
    m = mask("custom", 3, 2, mask_file=str(tmp_path / "mask.npz"))
    assert torch.equal(m, torch.tensor(pattern))
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "w.npy", values)
    w = init_weights("custom", m, {"weights_file": str(tmp_path / "w.npy")}, None)
    assert torch.equal(w, torch.tensor(values) * m)
    np.savez(tmp_path / "w.npz", weights=values)
    assert torch.equal(init_weights("custom", m, {"weights_file": str(tmp_path / "w.npz")}, None), w)
    with pytest.raises(ArchitectureError, match="expected \\[to, from\\] = \\(3, 3\\)"):
        mask("custom", 3, 3, mask_file=str(tmp_path / "mask.npz"))
    with pytest.raises(ArchitectureError, match="file not found"):
        mask("custom", 3, 2, mask_file=str(tmp_path / "nope.npz"))
    np.savez(tmp_path / "bad.npz", mask=pattern * 2)
    with pytest.raises(ArchitectureError, match="only 0 and 1"):
        mask("custom", 3, 2, mask_file=str(tmp_path / "bad.npz"))


def test_weight_initialisers():
    ones = torch.ones(40, 50)
    gen = torch.Generator().manual_seed(0)
    uniform = init_weights("uniform", ones, {"min": 0.1, "max": 0.3}, gen)
    assert uniform.min() >= 0.1 and uniform.max() < 0.3
    aliased = init_weights("uniform", ones, {"a": 0.5, "b": 0.6}, gen)
    assert aliased.min() >= 0.5 and aliased.max() < 0.6
    normal = init_weights("normal", ones, {"mean": 1.0, "std": 0.2}, gen)
    assert abs(normal.mean().item() - 1.0) < 0.02 and abs(normal.std().item() - 0.2) < 0.02
    assert torch.equal(init_weights("constant", ones, {"value": 0.7}, gen), torch.full((40, 50), 0.7))
    assert torch.allclose(init_weights("linear", torch.ones(2, 2), {"min": 0.0, "max": 0.3}, gen),
                       torch.tensor([[0.0, 0.1], [0.2, 0.3]]))
    xavier = init_weights("xavier_uniform", ones, {}, gen)
    assert xavier.abs().max() <= (6.0 / 90) ** 0.5 + 1e-6
    kaiming = init_weights("kaiming_normal", ones, {}, gen)
    assert abs(kaiming.std().item() - (2.0 / 50) ** 0.5) < 0.02
    tanh_gain = init_weights("kaiming_uniform", ones, {"nonlinearity": "tanh"}, gen)
    assert tanh_gain.abs().max() <= 5.0 / 3.0 * (3.0 / 50) ** 0.5 + 1e-6
    ortho = init_weights("orthogonal", torch.ones(5, 5), {}, gen)
    assert torch.allclose(ortho @ ortho.t(), torch.eye(5), atol=1e-5)
    sparse = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert torch.all(init_weights("normal", sparse, {}, gen)[sparse == 0] == 0)


def test_bad_values_are_rejected():
    with pytest.raises(ArchitectureError, match="did you mean 'full'"):
        mask("block_structure", 4, 4, block_count=2, connection_mode="ful",
             within_block_density=1.0, cross_block_density=0.0)
    with pytest.raises(ArchitectureError, match="missing required key 'block_count'"):
        mask("block_structure", 4, 4, connection_mode="full")
    with pytest.raises(ArchitectureError, match="must be in \\(0, 1\\]"):
        mask("sparse", 3, 3, sparsity=1.5)
    with pytest.raises(ArchitectureError, match="needs equal sizes"):
        mask("inverse_one_to_one", 3, 2)
    with pytest.raises(ArchitectureError, match="min \\(0.5\\) is larger than max"):
        init_weights("uniform", torch.ones(2, 2), {"min": 0.5, "max": 0.1}, None)
    assert "dense" in CONNECTION_PATTERNS and "all_to_all" in CONNECTION_PATTERNS
    assert set(WEIGHT_INITS.names(with_aliases=True)) == {
        "normal", "uniform", "linear", "constant", "xavier_normal", "xavier_uniform",
        "kaiming_normal", "kaiming_uniform", "orthogonal", "flux_balanced", "custom"}
    assert set(CONNECTION_PATTERNS.names(with_aliases=True)) == {
        "dense", "all_to_all", "one_to_one", "inverse_one_to_one", "chain", "sparse",
        "block_structure", "constant", "power_law", "exponential", "custom", "hierarchical_blocks"}
