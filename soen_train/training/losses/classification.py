"""Cross-entropy losses on logits: per sequence, per step, and next-token prediction."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from soen_train.catalog.loss_checks import PADDING_LABEL
from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.training.losses.context import LossContext


def _class_ids(loss: str, targets: torch.Tensor) -> torch.Tensor:
    """Targets as int64 class ids, or an error if they hold non-integer values."""
    if targets.is_floating_point() and not torch.equal(targets, targets.round()):
        raise ValueError(
            f"loss '{loss}' needs integer class labels, got non-integer values "
            f"(dtype {targets.dtype}); use 'mse' for regression targets"
        )
    return targets.long()


@LOSS_CATALOG.torch("cross_entropy")
def cross_entropy(ctx: LossContext, ignore_index: int = PADDING_LABEL) -> torch.Tensor:
    """Mean cross entropy of logits against class ids; labels equal to ``ignore_index`` are skipped.

    seq2static: outputs [B, C], targets [B]. seq2seq: outputs [B, T, C], targets [B, T],
    flattened to B*T positions.
    """
    targets = _class_ids("cross_entropy", ctx.require_targets("cross_entropy"))
    logits = ctx.outputs
    if logits.dim() == 2 and targets.dim() == 1 and targets.shape[0] == logits.shape[0]:
        return F.cross_entropy(logits, targets, ignore_index=int(ignore_index))
    if logits.dim() == 3 and targets.dim() == 2 and targets.shape == logits.shape[:2]:
        flat_logits = logits.reshape(-1, logits.shape[-1])
        return F.cross_entropy(flat_logits, targets.reshape(-1), ignore_index=int(ignore_index))
    raise ValueError(
        "loss 'cross_entropy': outputs and targets do not align: outputs "
        f"{tuple(logits.shape)}, targets {tuple(targets.shape)}; expected [B, C] with [B] "
        "(seq2static) or [B, T, C] with [B, T] (seq2seq)"
    )


def _token_sequence(ctx: LossContext) -> torch.Tensor:
    """The token ids [B, T] that the sequence predicts: integer targets, else one-hot inputs."""
    if ctx.targets is not None:
        if ctx.targets.dim() != 2:
            raise ValueError(
                "loss 'autoregressive_cross_entropy' needs token targets [B, T], got "
                f"{tuple(ctx.targets.shape)}"
            )
        return _class_ids("autoregressive_cross_entropy", ctx.targets)
    x = ctx.require_inputs("autoregressive_cross_entropy")
    if x.dim() == 3 and x.shape[-1] == 1:
        tokens = x[..., 0]
        if torch.equal(tokens, tokens.round()):
            return tokens.long()
    if x.dim() == 3:
        is_binary = bool(((x == 0) | (x == 1)).all())
        if is_binary and bool((x.sum(dim=-1) == 1).all()):
            return x.argmax(dim=-1)
    raise ValueError(
        "loss 'autoregressive_cross_entropy' found no token ids: give integer targets [B, T], "
        "or one-hot inputs [B, T, V], or integer inputs [B, T, 1]"
    )


@LOSS_CATALOG.torch("autoregressive_cross_entropy")
def autoregressive_cross_entropy(
    ctx: LossContext, ignore_index: int = PADDING_LABEL
) -> torch.Tensor:
    """Next-token cross entropy: the output at step t is scored against token t+1.

    outputs [B, T, V] (history without step 0); tokens [B, T] come from integer targets or,
    without targets, from one-hot inputs. The last output has no next token and is unused,
    so the mean runs over B*(T-1) positions (minus those labelled ``ignore_index``).
    """
    logits = ctx.outputs
    tokens = _token_sequence(ctx)
    if logits.dim() != 3:
        raise ValueError(
            "loss 'autoregressive_cross_entropy' needs sequence outputs [B, T, V] (mapping "
            f"seq2seq), got {tuple(logits.shape)}"
        )
    if tokens.shape != logits.shape[:2]:
        raise ValueError(
            "loss 'autoregressive_cross_entropy': outputs cover "
            f"{tuple(logits.shape[:2])} (batch, steps) but tokens are {tuple(tokens.shape)}"
        )
    if tokens.shape[1] < 2:
        raise ValueError("loss 'autoregressive_cross_entropy' needs sequences of at least 2 steps")
    step_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1])
    next_tokens = tokens[:, 1:].reshape(-1)
    return F.cross_entropy(step_logits, next_tokens, ignore_index=int(ignore_index))
