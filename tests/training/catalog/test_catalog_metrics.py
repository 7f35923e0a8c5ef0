"""accuracy, perplexity and bits_per_character on hand-made epoch tensors."""

import math

import pytest
import torch

from soen_train.registry import UnknownNameError
from soen_train.training.metrics import METRICS, compute_metrics


def test_accuracy_rank2():
    out = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert compute_metrics(["accuracy"], out, y) == {"accuracy": pytest.approx(0.75)}


def test_accuracy_rank3_masks_padding():
    out = torch.tensor([[[2.0, 1.0], [0.0, 3.0], [5.0, 0.0]], [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    y = torch.tensor([[0, 0, -100], [1, -100, -100]])
    assert compute_metrics(["accuracy"], out, y)["accuracy"] == pytest.approx(2 / 3)
    assert compute_metrics(["accuracy"], out, torch.full((2, 3), -100))["accuracy"] == 0.0


def test_perplexity_and_bits_per_character():
    out = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [7.0, 7.0]]])
    y = torch.tensor([[0, 0, -100]])
    ce = (math.log(2.0) + math.log(4.0 / 3.0)) / 2
    m = compute_metrics(["perplexity", "bits_per_character"], out, y)
    assert m["perplexity"] == pytest.approx(math.exp(ce), rel=1e-6)
    assert m["bits_per_character"] == pytest.approx(ce / math.log(2.0), rel=1e-6)
    assert compute_metrics(["bpc"], out, y)["bpc"] == pytest.approx(ce / math.log(2.0), rel=1e-6)


def test_metric_errors():
    assert METRICS.names() == ["accuracy", "bits_per_character", "perplexity"]
    with pytest.raises(UnknownNameError, match=r"unknown metric 'acuracy' \(did you mean 'accuracy'\?\)"):
        compute_metrics(["acuracy"], torch.zeros(2, 2), torch.zeros(2).long())
    with pytest.raises(ValueError, match=r"metric 'accuracy': outputs \(2, 2\) and targets \(3,\) do not align"):
        compute_metrics(["accuracy"], torch.zeros(2, 2), torch.zeros(3).long())
    with pytest.raises(ValueError, match="needs integer class labels"):
        compute_metrics(["perplexity"], torch.zeros(2, 2), torch.tensor([0.2, 0.5]))
