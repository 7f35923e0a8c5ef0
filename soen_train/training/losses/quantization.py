"""Quantisation codebooks and ``gravity_quantization_loss`` (pull weights onto the codebook).

Hardware couplings take a few discrete values. ``uniform_codebook`` builds those values
(shared with QAT and quantised-accuracy evaluation); ``nearest_code`` snaps weights to them;
the gravity loss penalises the distance of each learnable weight to its nearest level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from soen_train.training.losses.catalog import register_loss
from soen_train.training.losses.context import LossContext
from soen_train.training.losses.model_access import connection_weights, select_connections
from soen_train.training.losses.param_checks import as_list, check_choice, check_number

#: Codebook used when no codebook, range or size is given: -1 to 1 in steps of 0.25.
DEFAULT_CODEBOOK = tuple(-1.0 + 0.25 * i for i in range(9))

DISTANCE_MODES = ("mae", "l1", "mse", "l2")


def uniform_codebook(
    min_val: float,
    max_val: float,
    bits: int | None = None,
    levels: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Sorted uniform codebook on [min_val, max_val] that always contains exactly one zero.

    Size L = ``levels``, or 2**bits + 1 (``bits`` counts the non-zero levels). When the range
    contains 0, the L - 1 non-zero levels are split floor/ceil between the negative and the
    positive side (all on one side if the range ends at 0), each side evenly spaced up to its
    bound. When the range excludes 0, L - 1 levels span [min_val, max_val] and 0 is added.
    Example: bits 2 on [-0.24, 0.24] -> [-0.24, -0.12, 0, 0.12, 0.24].
    """
    owner = "uniform_codebook"
    lo = check_number(owner, "min_val", min_val)
    hi = check_number(owner, "max_val", max_val)
    if not lo < hi:
        raise ValueError(f"{owner}: min_val ({lo}) must be smaller than max_val ({hi})")
    if (bits is None) == (levels is None):
        raise ValueError(f"{owner}: give exactly one of bits or levels (got bits={bits}, levels={levels})")
    if bits is not None:
        count = 2 ** int(check_number(owner, "bits", bits, minimum=1, maximum=16, integer=True)) + 1
    else:
        count = int(check_number(owner, "levels", levels, minimum=2, integer=True))
    nonzero = count - 1
    values = [0.0]
    if lo <= 0.0 <= hi:
        if lo == 0.0:
            n_neg = 0
        elif hi == 0.0:
            n_neg = nonzero
        else:
            n_neg = nonzero // 2
        n_pos = nonzero - n_neg
        if n_neg:
            values += torch.linspace(lo, 0.0, n_neg + 1, dtype=torch.float64)[:-1].tolist()
        if n_pos:
            values += torch.linspace(0.0, hi, n_pos + 1, dtype=torch.float64)[1:].tolist()
    else:
        values += torch.linspace(lo, hi, nonzero, dtype=torch.float64).tolist()
    return torch.tensor(sorted(set(values)), dtype=dtype)


def nearest_code(w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The codebook level nearest to each element of ``w`` (ties go to the lower level); no grad."""
    book = codebook.to(device=w.device, dtype=w.dtype).sort().values
    flat = w.detach().reshape(-1)
    upper_idx = torch.bucketize(flat, book).clamp(max=book.numel() - 1)
    lower_idx = (upper_idx - 1).clamp(min=0)
    lower, upper = book[lower_idx], book[upper_idx]
    pick_lower = (flat - lower).abs() <= (upper - flat).abs()
    return torch.where(pick_lower, lower, upper).reshape(w.shape)


def codebook_from_params(
    codebook: Sequence[float] | None,
    min_val: float | None,
    max_val: float | None,
    bits: int | None,
    levels: int | None,
    owner: str,
) -> torch.Tensor:
    """Resolve the codebook of a loss/callback config: explicit list, uniform range, or default.

    An explicit ``codebook`` excludes the other keys; a uniform codebook needs min_val,
    max_val and one of bits/levels; with none of them the default -1..1 step 0.25 is used.
    A partial set is an error (the original silently fell back to the default).
    """
    uniform_keys = {"min_val": min_val, "max_val": max_val, "bits": bits, "levels": levels}
    given = [k for k, v in uniform_keys.items() if v is not None]
    if codebook is not None:
        if given:
            raise ValueError(f"{owner}: give either 'codebook' or {given}, not both")
        values = [check_number(owner, "codebook", v) for v in as_list(owner, "codebook", codebook)]
        if not values:
            raise ValueError(f"{owner}: 'codebook' must not be empty")
        return torch.tensor(sorted(set(values)), dtype=torch.float32)
    if not given:
        return torch.tensor(DEFAULT_CODEBOOK, dtype=torch.float32)
    missing = [k for k in ("min_val", "max_val") if uniform_keys[k] is None]
    if bits is None and levels is None:
        missing.append("bits or levels")
    if missing:
        raise ValueError(
            f"{owner}: a uniform codebook needs min_val, max_val and bits or levels; missing {missing}"
        )
    if bits is not None and levels is not None:
        raise ValueError(f"{owner}: give bits or levels, not both (bits={bits}, levels={levels})")
    try:
        return uniform_codebook(min_val, max_val, bits=bits, levels=levels)  # type: ignore[arg-type]
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None


def _check(
    codebook: Any, min_val: Any, max_val: Any, bits: Any, levels: Any, factor: Any,
    connections: Any, mode: Any,
) -> None:
    owner = "loss 'gravity_quantization_loss'"
    codebook_from_params(codebook, min_val, max_val, bits, levels, owner)
    check_number(owner, "factor", factor)
    check_choice(owner, "mode", mode, DISTANCE_MODES)
    if connections is not None:
        names = as_list(owner, "connections", connections)
        if not names:
            raise ValueError(f"{owner}: 'connections' must not be empty (omit it to use all)")


@register_loss("gravity_quantization_loss", needs={"model"}, check=_check)
def gravity_quantization_loss(
    ctx: LossContext,
    codebook: Sequence[float] | None = None,
    min_val: float | None = None,
    max_val: float | None = None,
    bits: int | None = None,
    levels: int | None = None,
    factor: float = 1.0,
    connections: Iterable[str] | None = None,
    mode: str = "mae",
) -> torch.Tensor:
    """factor * mean over every element of the selected learnable connections of d(w, nearest level).

    d is |w - c| (mode mae/l1) or (w - c)^2 (mse/l2). ``connections`` restricts the loss to
    the named connections ("<from>_to_<to>"); default all learnable ones. Masked-out
    entries (exact zeros) sit on the zero level and count as zero distance.
    """
    owner = "loss 'gravity_quantization_loss'"
    book = codebook_from_params(codebook, min_val, max_val, bits, levels, owner)
    model = ctx.require_model("gravity_quantization_loss")
    names = None if connections is None else as_list(owner, "connections", connections)
    weights = select_connections(
        connection_weights(model, "gravity_quantization_loss"), names, "gravity_quantization_loss"
    )
    flat = torch.cat([w.reshape(-1) for w in weights.values()])
    diff = flat - nearest_code(flat, book)
    dist = diff.abs() if mode in ("mae", "l1") else diff.pow(2)
    return factor * dist.mean()
