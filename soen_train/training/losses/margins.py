"""Margin losses on pooled logits: separate the true class from the others.

Fabrication spread shifts every coupling a little; a model whose correct class wins by a
margin keeps its prediction under such shifts. All three need seq2static pooled outputs
[B, C] and class ids [B].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.training.losses.context import LossContext


def _logits_and_labels(ctx: LossContext, loss: str, raw: bool = False) -> tuple:
    """Pooled logits [B, C] (divided by the pooling scale when ``raw``) and int64 labels [B]."""
    logits = ctx.require_pooled(loss)
    labels = ctx.require_targets(loss)
    if logits.dim() != 2 or labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"loss '{loss}' needs pooled logits [B, C] and class ids [B], got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if raw:
        logits = logits / ctx.pooling_scale
    return logits, labels.long()


@LOSS_CATALOG.torch("top_gap_loss")
def top_gap_loss(
    ctx: LossContext,
    separation_threshold: float = 0.1,
    max_penalty_offset: float = 1.0,
    factor: float = 1.0,
) -> torch.Tensor:
    """Penalise a small lead of the top class, on raw (un-scaled) pooled outputs z.

    Per sample: wrong top-1 -> max_penalty_offset; correct top-1 ->
    max_penalty_offset * max(0, sep - (z_top1 - z_top2)) / sep. Result: factor * mean.
    With fewer than 2 classes or an empty batch the loss is 0.
    """
    z, y = _logits_and_labels(ctx, "top_gap_loss", raw=True)
    if z.shape[0] == 0 or z.shape[1] < 2:
        return z.sum() * 0.0
    top = torch.topk(z, 2, dim=1)
    correct = top.indices[:, 0] == y
    gap = top.values[:, 0] - top.values[:, 1]
    shortfall = torch.relu(separation_threshold - gap) / separation_threshold
    penalty = torch.where(
        correct, max_penalty_offset * shortfall, torch.full_like(gap, max_penalty_offset)
    )
    return factor * penalty.mean()


@LOSS_CATALOG.torch("gap_loss")
def gap_loss(ctx: LossContext, margin: float = 1.0) -> torch.Tensor:
    """Hinge margin on pooled logits: mean over samples of sum_{c != y} relu(z_c - z_y + margin)."""
    z, y = _logits_and_labels(ctx, "gap_loss")
    z_true = z.gather(1, y.unsqueeze(1))
    hinge = torch.relu(z - z_true + margin)
    wrong = torch.ones_like(z, dtype=torch.bool).scatter_(1, y.unsqueeze(1), False)
    return (hinge * wrong).sum(dim=1).mean()


def _cosine_matrix(rows: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine similarity of the rows of a matrix."""
    unit = F.normalize(rows, dim=1, eps=1e-8)
    return unit @ unit.T


@LOSS_CATALOG.torch("rich_margin_loss")
def rich_margin_loss(
    ctx: LossContext,
    margin: float = 0.5,
    sigma_noise: float = 0.05,
    lambda_gap: float = 1.0,
    lambda_noise: float = 0.3,
    lambda_entropy: float = 0.1,
    lambda_consistency: float = 0.2,
    lambda_diversity: float = 0.1,
) -> torch.Tensor:
    """Weighted sum of five terms on pooled logits z [B, C] with labels y.

    gap: mean_b sum_{c != y} relu(margin + z_c - z_y)^2 * (1 - sigmoid(z_y - z_c));
    noise: KL(softmax(z) || softmax(z + eps * sigma_noise * |z|)), eps ~ N(0, 1), batch mean;
    entropy H = mean_b(-sum p log p), entering as -lambda_entropy * H;
    consistency: mean over sample pairs of (cos(z_i, z_j) - [y_i == y_j])^2;
    diversity: mean cosine similarity over pairs of distinct class-mean logit vectors
    (0 with fewer than two classes in the batch).
    """
    z, y = _logits_and_labels(ctx, "rich_margin_loss")
    z_true = z.gather(1, y.unsqueeze(1))
    wrong = torch.ones_like(z, dtype=torch.bool).scatter_(1, y.unsqueeze(1), False)
    hinge = torch.relu(margin + z - z_true).pow(2) * (1.0 - torch.sigmoid(z_true - z))
    gap = (hinge * wrong).sum(dim=1).mean()

    noisy = z + torch.randn_like(z) * sigma_noise * z.abs()
    log_p = F.log_softmax(z, dim=1)
    noise = F.kl_div(F.log_softmax(noisy, dim=1), log_p, log_target=True, reduction="batchmean")

    p = log_p.exp()
    entropy = -(p * log_p).sum(dim=1).mean()

    same_class = (y.unsqueeze(0) == y.unsqueeze(1)).to(z.dtype)
    consistency = (_cosine_matrix(z) - same_class).pow(2).mean()

    classes = torch.unique(y)
    if classes.numel() >= 2:
        means = torch.stack([z[y == c].mean(dim=0) for c in classes])
        sims = _cosine_matrix(means)
        pairs = torch.triu_indices(len(classes), len(classes), offset=1, device=z.device)
        diversity = sims[pairs[0], pairs[1]].mean()
    else:
        diversity = z.sum() * 0.0

    return (
        lambda_gap * gap
        + lambda_noise * noise
        - lambda_entropy * entropy
        + lambda_consistency * consistency
        + lambda_diversity * diversity
    )
