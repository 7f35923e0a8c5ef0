"""Which optimiser steps write their per-step values (``train_loss_step``, ``lr``).

Step ``k`` (0-based: the number of optimiser steps taken before it) is written when ``k`` is a
multiple of ``logging.log_freq``, with the value of that step, under step ``k``; both training
loops and the LR schedule follow this rule, so their curves line up.
"""

from __future__ import annotations


def logs_step(step: int, log_freq: int) -> bool:
    """Whether optimiser step ``step`` writes its per-step values (``log_freq`` < 1 counts as 1)."""
    return step % max(1, int(log_freq)) == 0
