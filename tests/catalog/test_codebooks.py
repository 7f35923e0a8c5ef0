"""The neutral codebook values are the ones torch's float64 linspace gave (bit for bit)."""

import random

import pytest
import torch

from soen_train.catalog.codebooks import codebook_values, linspace, uniform_codebook_values
from soen_train.training.losses import uniform_codebook


@pytest.mark.parametrize("start,end,steps", [(-0.24, 0.0, 5), (0.0, 0.24, 9), (-1.0, 1.0, 7),
                                              (0.1, 0.37, 33), (-0.3, -0.01, 2), (0.5, 0.5, 1)])
def test_linspace_matches_torch_float64(start, end, steps):
    assert linspace(start, end, steps) == torch.linspace(start, end, steps, dtype=torch.float64).tolist()


def test_linspace_matches_torch_on_random_ranges():
    rng = random.Random(0)
    for _ in range(500):
        start, steps = rng.uniform(-1, 1), rng.randint(2, 40)
        end = rng.choice([0.0, rng.uniform(-1, 1)])
        expected = torch.linspace(start, end, steps, dtype=torch.float64).tolist()
        assert linspace(start, end, steps) == expected, (start, end, steps)


def test_uniform_codebook_example_and_tensor_wrapper():
    assert uniform_codebook_values(-0.24, 0.24, bits=2) == pytest.approx([-0.24, -0.12, 0.0, 0.12, 0.24])
    values = uniform_codebook_values(0.1, 0.5, levels=4)
    assert values[0] == 0.0 and len(values) == 4
    assert uniform_codebook(0.1, 0.5, levels=4).tolist() == torch.tensor(values).tolist()


def test_codebook_values_rules():
    assert codebook_values(None, None, None, None, None, "o") == [-1.0 + 0.25 * i for i in range(9)]
    assert codebook_values([0.2, -0.1, 0.2], None, None, None, None, "o") == [-0.1, 0.2]
    with pytest.raises(ValueError, match="o: a uniform codebook needs .* missing \\['max_val'\\]"):
        codebook_values(None, -0.2, None, 2, None, "o")
