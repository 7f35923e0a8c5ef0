"""The JAX backend's training loop (``training.backend=jax``): the driver around ``soen_train.jax``.

``soen_train.jax`` holds the array maths (layers, scan, network, losses, train step); this
package runs it over epochs with the same data, schedules, logs and run folders as the torch
backend, and the same loop rules (``soen_train.loop_policy``: early stopping, checkpoints,
Optuna reports, metric history).

- ``trainer.JaxTrainer``: one repeat's fit and test;
- ``repeat.run_jax_repeat`` / ``train_jax_repeat``: what the runner calls;
- ``schedules``: LR, loss-weight, pooling-scale and sequence-length schedules per step/epoch;
- ``checkpoints``: writing, ranking and restoring ``*.jax.npz`` checkpoints;
- ``run_state``: the resumable bookkeeping; ``loader_batches``: torch batches as numpy.
"""
