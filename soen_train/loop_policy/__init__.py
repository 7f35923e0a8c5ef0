"""Backend-neutral rules of the training loop: one definition each, used by both backends.

Pure Python (no torch, Lightning or JAX): the Lightning callbacks (``training/``) and the
JAX loop (``training/jax_loop``) call these functions, so a rule is written once.

- ``epoch_schedules``: linear ramps over an epoch window (sequence length, pooling scale);
- ``early_stopping``: when a monitored value stops improving, when the run stops;
- ``checkpoint_rule``: which epochs write a checkpoint, which enter the top k, which is best;
- ``optuna_report``: what an Optuna trial is told after a validation, and when it is pruned;
- ``metric_history``: the per-epoch validation rows and their best/final summary;
- ``step_logging``: which optimiser steps write their per-step values.
"""
