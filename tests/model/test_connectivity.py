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
    assert torch.equal(mask("one_to_one", 4, 2, source_start_node_id=2),
                       torch.tensor([[0, 0, 1.0, 0], [0, 0, 0, 1.0]]))
    assert torch.equal(mask("chain", 3, 3), torch.tensor([[0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]))
    assert torch.equal(mask("inverse_one_to_one", 2, 2), torch.tensor([[0, 1.0], [1.0, 0]]))
    assert torch.equal(mask("dense", 3, 3, allow_self=False), 1 - torch.eye(3))
    blocks = mask("block_structure", 4, 4, block_count=2)
    assert torch.equal(blocks, torch.block_diag(torch.ones(2, 2), torch.ones(2, 2)))
    full = mask("block_structure", 4, 4, block_count=2, connection_mode="full", cross_block_density=1.0)
    assert torch.equal(full, torch.ones(4, 4))


def test_sparse_is_seeded_with_the_requested_density():
    first = mask("sparse", 60, 50, connection_probability=0.3, seed=1)
    assert torch.equal(first, mask("sparse", 60, 50, connection_probability=0.3, seed=1))
    assert not torch.equal(first, mask("sparse", 60, 50, connection_probability=0.3, seed=2))
    assert abs(first.mean().item() - 0.3) < 0.03
    assert torch.equal(mask("sparse", 10, 10, sparsity=1.0), torch.ones(10, 10))


def test_distance_patterns_reach_the_expected_fan_out():
    for pattern, params in (("power_law", {"alpha": 2.0}), ("exponential", {"d_0": 1.5})):
        m = mask(pattern, 64, 64, expected_fan_out=6, **params)
        assert abs(m.sum(0).mean().item() - 6) < 1.5
    exact = mask("constant", 20, 30, expected_fan_out=4)
    assert torch.equal(exact.sum(0), torch.full((20,), 4.0))


def test_hierarchical_blocks_tiers():
    m = mask("hierarchical_blocks", 8, 8, levels=3, base_size=2, tier_fractions=[1.0, 0.0, 0.0])
    expected = torch.block_diag(*[torch.ones(2, 2)] * 4) - torch.eye(8)
    assert torch.equal(m, expected)
    with pytest.raises(ArchitectureError, match="needs 8 nodes"):
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
    with pytest.raises(ArchitectureError, match="expected \\[to, from\\] = \\(3, 3\\)"):
        mask("custom", 3, 3, mask_file=str(tmp_path / "mask.npz"))
    with pytest.raises(ArchitectureError, match="file not found"):
        mask("custom", 3, 2, mask_file=str(tmp_path / "nope.npz"))


def test_weight_initialisers():
    ones = torch.ones(40, 50)
    gen = torch.Generator().manual_seed(0)
    uniform = init_weights("uniform", ones, {"min": 0.1, "max": 0.3}, gen)
    assert uniform.min() >= 0.1 and uniform.max() < 0.3
    normal = init_weights("normal", ones, {"mean": 1.0, "std": 0.2}, gen)
    assert abs(normal.mean().item() - 1.0) < 0.02 and abs(normal.std().item() - 0.2) < 0.02
    assert torch.equal(init_weights("constant", ones, {"value": 0.7}, gen), torch.full((40, 50), 0.7))
    xavier = init_weights("xavier_uniform", ones, {}, gen)
    assert xavier.abs().max() <= (6.0 / 90) ** 0.5 + 1e-6
    kaiming = init_weights("kaiming", ones, {}, gen)
    assert abs(kaiming.std().item() - (2.0 / 50) ** 0.5) < 0.02
    ortho = init_weights("orthogonal", torch.ones(5, 5), {}, gen)
    assert torch.allclose(ortho @ ortho.t(), torch.eye(5), atol=1e-5)
    sparse = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert torch.all(init_weights("normal", sparse, {}, gen)[sparse == 0] == 0)


def test_unknown_parameters_are_rejected():
    with pytest.raises(ArchitectureError, match="did you mean 'connection_probability'"):
        mask("sparse", 3, 3, connection_probabilty=0.5)
    with pytest.raises(ArchitectureError, match="'diagonal' or 'full'"):
        mask("block_structure", 4, 4, connection_mode="ring")
    with pytest.raises(ArchitectureError, match="must be <= 1.0"):
        mask("sparse", 3, 3, connection_probability=1.5)
    with pytest.raises(ArchitectureError, match="min \\(0.5\\) is larger than max"):
        init_weights("uniform", torch.ones(2, 2), {"min": 0.5, "max": 0.1}, None)
    assert "dense" in CONNECTION_PATTERNS and "all_to_all" in CONNECTION_PATTERNS
    assert {"uniform", "normal", "constant", "xavier_uniform", "xavier_normal", "kaiming"} <= set(
        WEIGHT_INITS.names(with_aliases=True))
