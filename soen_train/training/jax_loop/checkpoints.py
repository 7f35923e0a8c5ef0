"""Checkpoints of a JAX run: what each epoch writes, and resuming from one.

Files in ``checkpoints/repeat_<k>``: ``last.jax.npz``, ``epoch=NN-val_loss=0.1234.jax.npz``
(top k by ``val_loss``) or ``epoch=NN.jax.npz`` (every epoch), ``initial.jax.npz``, each with
its ``.soen``, and ``best.soen``. Which epochs write, which stay and which is best follow
``loop_policy.checkpoint_rule`` and ``loop_policy.early_stopping`` (the torch backend's rules).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from soen_train.jax.architecture_match import same_architecture
from soen_train.jax.checkpoint import (
    SUFFIX,
    JaxCheckpoint,
    is_jax_checkpoint,
    load_checkpoint,
    save_checkpoint,
    soen_path_for,
)
from soen_train.jax.errors import JaxCheckpointError
from soen_train.loop_policy import checkpoint_rule
from soen_train.loop_policy.early_stopping import StoppingDecision, early_stopping_check

from .run_state import TrainerState

if TYPE_CHECKING:
    from .trainer import JaxTrainer

log = logging.getLogger("soen_train.jax")


def write_checkpoint(trainer: "JaxTrainer", path: Path) -> Path:
    """Write the trainer's weights, optimiser state and bookkeeping to ``path`` (+ its .soen),
    after the loggers have sent every metric value logged so far."""
    from soen_train.tracking.mlflow_fallback import flush_waiting_metrics

    flush_waiting_metrics(trainer.loggers)
    leaves, treedef = jax.tree_util.tree_flatten(trainer.opt_state)
    params = {k: np.asarray(v) for k, v in trainer.params().items()}
    schedule = trainer.schedules.lr
    trainer.state.lr_schedule = {"type": getattr(schedule, "name", ""), "state": schedule.state_dict()}
    ckpt = JaxCheckpoint(
        params=params,
        spec=trainer.jax_model.spec,
        trainable=sorted(trainer.jax_model.trainable),
        epoch=trainer.state.epoch,
        global_step=trainer.state.global_step,
        opt_leaves=[np.asarray(leaf) for leaf in leaves],
        opt_structure=str(treedef),
        trainer_state=trainer.state.to_dict(),
    )
    save_checkpoint(path, ckpt)
    write_soen(trainer, params, soen_path_for(path))
    return path


def write_soen(trainer: "JaxTrainer", params: Dict[str, Any], target: Path) -> None:
    """Write ``params`` as a torch ``.soen`` (a copy of the model with the JAX weights)."""
    model = copy.deepcopy(trainer.torch_model)
    trainer.jax_model.write_to_torch(params, model)
    model.save(target)


def checkpoint_epoch(trainer: "JaxTrainer", epoch: int, val_loss: Optional[float]) -> Optional[StoppingDecision]:
    """After epoch ``epoch``: top-k / every-epoch checkpoints, ``best.soen``, ``last.jax.npz``.

    Returns the early-stopping decision of this validation (None without a ``val_loss``).
    """
    t, state = trainer.cfg.training, trainer.state
    ckpt_dir = Path(trainer.paths.checkpoints)
    due = checkpoint_rule.checkpoint_due(epoch, t.checkpoint_every_n_epochs)
    if due and t.checkpoint_save_all_epochs:
        name = checkpoint_rule.ALL_EPOCHS_FILENAME.format(epoch=epoch)
        write_checkpoint(trainer, ckpt_dir / f"{name}{SUFFIX}")
    elif due and val_loss is not None:
        name = checkpoint_rule.TOP_K_FILENAME.format(epoch=epoch, val_loss=val_loss)
        path = ckpt_dir / f"{name}{SUFFIX}"
        update = checkpoint_rule.offer_to_top_k(state.top_k, val_loss, str(path),
                                                int(t.checkpoint_save_top_k))
        if update.saved:
            write_checkpoint(trainer, path)
            for old in update.drop:
                for stale in (Path(old), soen_path_for(old)):
                    if stale.exists():
                        stale.unlink()
            state.top_k = update.keep
    decision = None
    if val_loss is not None:
        decision = early_stopping_check(state.stopping, val_loss, t.early_stopping_patience,
                                        checkpoint_rule.MODE, checkpoint_rule.MONITOR)
        state.stopping = decision.state
        if decision.improved:
            write_soen(trainer, trainer.params(), ckpt_dir / "best.soen")
            state.best_path = checkpoint_rule.best_path(state.top_k)
    if t.checkpoint_save_last:
        write_checkpoint(trainer, ckpt_dir / "last.jax.npz")
    return decision


def restore(trainer: "JaxTrainer", path: str) -> None:
    """Continue from a JAX checkpoint: weights, optimiser, epoch, step, schedules, history.

    ``path`` is one of our ``*.jax.npz`` checkpoints, or an original toolkit ``.pkl``
    (read with the restricted unpickler). A checkpoint without optimiser state (migrated
    from a ``.pkl``, or the ``.pkl`` itself) restores weights, epoch and step, and starts
    the optimiser afresh with one warning.
    """
    if str(path).endswith(".pkl"):
        from soen_train.jax.original_checkpoint import migrate_in_memory

        ckpt = migrate_in_memory(path, fallback_model=trainer.torch_model).checkpoint
    elif is_jax_checkpoint(path):
        ckpt = load_checkpoint(path)
    else:
        raise JaxCheckpointError(
            f"training.train_from_checkpoint={path!r}: the JAX backend resumes from its own "
            "'*.jax.npz' checkpoints or the original toolkit's JAX '.pkl' (a torch .ckpt "
            "cannot continue under JAX)"
        )
    mismatch = same_architecture(ckpt.spec, trainer.jax_model.spec)
    if mismatch:
        raise JaxCheckpointError(
            f"{path}: the checkpoint's architecture differs from the configured model "
            f"({mismatch}); "
            "resume with the same architecture, or start a new run from its .soen via "
            "model.base_model_path"
        )
    names = set(trainer.params())
    if set(ckpt.params) != names:
        raise JaxCheckpointError(
            f"{path}: parameters {sorted(set(ckpt.params) ^ names)} do not match the model's"
        )
    restored = {k: jnp.asarray(v) for k, v in ckpt.params.items()}
    trainer.trainable, trainer.frozen = trainer.jax_model.split(restored)
    if ckpt.opt_leaves:
        trainer.opt_state = _restored_opt_state(trainer.opt_state, path, ckpt)
    else:
        trainer.opt_state = trainer.optimizer.init(trainer.trainable)
        log.warning(
            "%s holds no optimiser state (migrated from the original's .pkl): weights, epoch "
            "%d and step %d restored, optimiser %s freshly initialised",
            path, ckpt.epoch, ckpt.global_step, trainer.cfg.training.optimizer.name,
        )
    trainer.state = TrainerState.from_checkpoint(ckpt)
    saved, schedule = trainer.state.lr_schedule, trainer.schedules.lr
    if saved and saved.get("type") == getattr(schedule, "name", None):
        schedule.load_state_dict(saved.get("state", {}))


def _restored_opt_state(current: Any, path: str, ckpt: JaxCheckpoint) -> Any:
    """The checkpoint's optimiser state in this run's optax tree (same setup required)."""
    leaves, treedef = jax.tree_util.tree_flatten(current)
    if len(leaves) != len(ckpt.opt_leaves) or str(treedef) != ckpt.opt_structure:
        raise JaxCheckpointError(
            f"{path}: the optimiser state was written by a different optimiser setup "
            f"({len(ckpt.opt_leaves)} arrays, this run has {len(leaves)}); resume with the "
            "same training.optimizer settings"
        )
    for old, new in zip(leaves, ckpt.opt_leaves):
        if tuple(np.shape(old)) != tuple(new.shape):
            raise JaxCheckpointError(f"{path}: optimiser state shapes do not match this model")
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in ckpt.opt_leaves])
