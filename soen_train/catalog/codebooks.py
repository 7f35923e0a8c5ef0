"""Quantisation codebooks as plain floats: the levels hardware couplings may take.

One definition for every backend and user: the torch losses, QAT and quantised-accuracy
evaluation wrap these values in tensors, the JAX losses in arrays. All values are
dimensionless coupling strengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import List, Optional

from soen_train.catalog.param_checks import as_list, check_number

#: Codebook used when no codebook, range or size is given: -1 to 1 in steps of 0.25.
DEFAULT_CODEBOOK = tuple(-1.0 + 0.25 * i for i in range(9))


def linspace(start: float, end: float, steps: int) -> List[float]:
    """``steps`` evenly spaced floats from ``start`` to ``end``, bit for bit as torch's float64
    ``linspace`` on CPU computes them: the first half from ``start``, the rest from ``end``,
    each a fused multiply-add (one rounding; computed exactly with ``Fraction``)."""
    if steps == 1:
        return [float(start)]
    step = Fraction((end - start) / (steps - 1))
    half = steps // 2
    return [
        float(Fraction(start) + step * i) if i < half else float(Fraction(end) - step * (steps - i - 1))
        for i in range(steps)
    ]


def uniform_codebook_values(
    min_val: float, max_val: float, bits: Optional[int] = None, levels: Optional[int] = None
) -> List[float]:
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
            values += linspace(lo, 0.0, n_neg + 1)[:-1]
        if n_pos:
            values += linspace(0.0, hi, n_pos + 1)[1:]
    else:
        values += linspace(lo, hi, nonzero)
    return sorted(set(values))


def codebook_values(
    codebook: Optional[Sequence[float]],
    min_val: Optional[float],
    max_val: Optional[float],
    bits: Optional[int],
    levels: Optional[int],
    owner: str,
) -> List[float]:
    """Resolve the codebook of a loss/callback config: explicit list, uniform range, or default.

    An explicit ``codebook`` excludes the other keys; a uniform codebook needs min_val,
    max_val and one of bits/levels; with none of them the default -1..1 step 0.25 is used.
    A partial set is an error (the original silently fell back to the default).

    Returns:
        The levels, sorted, without duplicates.
    """
    uniform_keys = {"min_val": min_val, "max_val": max_val, "bits": bits, "levels": levels}
    given = [k for k, v in uniform_keys.items() if v is not None]
    if codebook is not None:
        if given:
            raise ValueError(f"{owner}: give either 'codebook' or {given}, not both")
        values = [check_number(owner, "codebook", v) for v in as_list(owner, "codebook", codebook)]
        if not values:
            raise ValueError(f"{owner}: 'codebook' must not be empty")
        return sorted(set(values))
    if not given:
        return list(DEFAULT_CODEBOOK)
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
        return uniform_codebook_values(min_val, max_val, bits=bits, levels=levels)  # type: ignore[arg-type]
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None
