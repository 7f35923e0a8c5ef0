"""top_gap_loss, gap_loss and rich_margin_loss against hand computations."""

import math

import pytest
import torch

from soen_train.training.losses import LossContext, call_loss


def ctx_for(pooled, labels, scale=1.0):
    pooled = torch.tensor(pooled)
    return LossContext(outputs=pooled, pooled=pooled, targets=torch.tensor(labels), pooling_scale=scale)


def test_top_gap_loss_on_raw_outputs():
    # pooled with scale 2 -> raw z = [0.2, 0.18, 0], [0, 0.5, 0.1], [0.3, 0.1, 0]
    ctx = ctx_for([[0.4, 0.36, 0.0], [0.0, 1.0, 0.2], [0.6, 0.2, 0.0]], [0, 0, 0], scale=2.0)
    # correct with gap 0.02 -> (0.1 - 0.02)/0.1 = 0.8; wrong -> 1; correct with gap 0.2 -> 0
    assert call_loss("top_gap_loss", ctx).item() == pytest.approx(0.6, abs=1e-6)
    params = {"factor": 2.0, "max_penalty_offset": 0.5, "separation_threshold": 0.05}
    # 0.5 * (0.05 - 0.02)/0.05 = 0.3; wrong -> 0.5; 0 -> mean 0.8/3, * 2
    assert call_loss("top_gap_loss", ctx, params).item() == pytest.approx(2 * 0.8 / 3, abs=1e-6)


def test_top_gap_loss_single_class_is_zero():
    assert call_loss("top_gap_loss", ctx_for([[1.0], [2.0]], [0, 0])).item() == 0.0


def test_gap_loss_hinge_over_wrong_classes():
    ctx = ctx_for([[2.0, 0.0, 1.5], [0.0, 0.0, 0.0]], [0, 1])
    # sample 0: relu(0-2+1) + relu(1.5-2+1) = 0.5; sample 1: relu(1) + relu(1) = 2
    assert call_loss("gap_loss", ctx).item() == pytest.approx(1.25)
    assert call_loss("gap_loss", ctx, {"margin": 0.0}).item() == pytest.approx(0.0)


def _rich_reference(z, y, margin, sigma, lg, ln, le, lc, ld, eps):
    b, c = len(z), len(z[0])
    def sig(v):
        return 1 / (1 + math.exp(-v))
    gap = sum(
        max(0.0, margin + z[i][k] - z[i][y[i]]) ** 2 * (1 - sig(z[i][y[i]] - z[i][k]))
        for i in range(b) for k in range(c) if k != y[i]
    ) / b

    def softmax(row):
        e = [math.exp(v) for v in row]
        return [v / sum(e) for v in e]

    kl = 0.0
    ent = 0.0
    for i in range(b):
        p = softmax(z[i])
        q = softmax([z[i][k] + eps[i][k] * sigma * abs(z[i][k]) for k in range(c)])
        kl += sum(p[k] * math.log(p[k] / q[k]) for k in range(c))
        ent += -sum(p[k] * math.log(p[k]) for k in range(c))
    kl, ent = kl / b, ent / b

    def cos(u, v):
        return sum(a * b_ for a, b_ in zip(u, v)) / (math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(a * a for a in v)))

    cons = sum((cos(z[i], z[j]) - (1.0 if y[i] == y[j] else 0.0)) ** 2 for i in range(b) for j in range(b)) / b**2
    classes = sorted(set(y))
    means = [[sum(z[i][k] for i in range(b) if y[i] == cl) / y.count(cl) for k in range(c)] for cl in classes]
    pairs = [(a, b_) for a in range(len(classes)) for b_ in range(a + 1, len(classes))]
    div = sum(cos(means[a], means[b_]) for a, b_ in pairs) / len(pairs)
    return lg * gap + ln * kl - le * ent + lc * cons + ld * div


def test_rich_margin_loss_matches_its_five_terms():
    z = [[1.0, 0.2, -0.5], [0.1, 0.9, 0.3], [0.8, 0.7, 0.0], [-0.2, 0.4, 1.1]]
    y = [0, 1, 1, 2]
    params = {"margin": 0.5, "sigma_noise": 0.3, "lambda_gap": 1.0, "lambda_noise": 0.7,
                  "lambda_entropy": 0.1, "lambda_consistency": 0.2, "lambda_diversity": 0.4}
    torch.manual_seed(123)
    value = call_loss("rich_margin_loss", ctx_for(z, y), params).item()
    torch.manual_seed(123)
    eps = torch.randn(4, 3).tolist()
    expected = _rich_reference(z, y, 0.5, 0.3, 1.0, 0.7, 0.1, 0.2, 0.4, eps)
    assert value == pytest.approx(expected, rel=1e-5)


def test_margin_losses_need_pooled_outputs():
    seq = torch.zeros(2, 4, 3)
    ctx = LossContext(outputs=seq, targets=torch.zeros(2, 4).long())
    for name in ("top_gap_loss", "gap_loss", "rich_margin_loss"):
        with pytest.raises(ValueError, match=f"loss '{name}' works on pooled outputs"):
            call_loss(name, ctx)


def test_margin_param_errors():
    ctx = ctx_for([[1.0, 0.0]], [0])
    with pytest.raises(ValueError, match=r"'separation_threshold' = 0 must lie in \(0.0, inf\)"):
        call_loss("top_gap_loss", ctx, {"separation_threshold": 0})
    with pytest.raises(ValueError, match=r"'margin' = -1 must lie in \[0.0, inf\)"):
        call_loss("gap_loss", ctx, {"margin": -1})
