"""The Lightning early-stopping and checkpoint callbacks follow ``loop_policy`` (the JAX loop's
rules): on a real tiny training whose val_loss cannot improve, patience 2 stops after the
third epoch and a top-2 checkpoint keeps the first two epochs (ties keep the older)."""

from __future__ import annotations

from pathlib import Path

import pytest
from callbacks_testkit import make_model, make_module, make_trainer

from soen_train.loop_policy import checkpoint_rule
from soen_train.loop_policy.early_stopping import StoppingState, early_stopping_check
from soen_train.training.checkpointing import SOENModelCheckpoint
from soen_train.training.early_stopping import SOENEarlyStopping
from soen_train.training.trainer_factory import MetricsHistory


def test_early_stopping_and_top_k_follow_the_policy(tmp_path: Path, datamodule) -> None:
    module = make_module(make_model(), optimizer={"name": "adam", "lr": 1e-12})
    history = MetricsHistory()
    stopper = SOENEarlyStopping(monitor="val_loss", mode="min", patience=2)
    ckpt = SOENModelCheckpoint(
        dirpath=tmp_path / "ckpt", filename=checkpoint_rule.TOP_K_FILENAME,
        auto_insert_metric_name=False, monitor="val_loss", mode="min", save_top_k=2,
    )
    trainer = make_trainer(tmp_path, [history, stopper, ckpt], max_epochs=10,
                           enable_checkpointing=True)
    trainer.fit(module, datamodule=datamodule)

    values = [row["val_loss"] for row in history.epochs]
    assert len(values) == 3 and values[1] == values[0] == values[2]  # the LR moves nothing
    state = StoppingState()
    stops = []
    for value in values:
        decision = early_stopping_check(state, value, patience=2)
        state = decision.state
        stops.append(decision.stop)
    assert stops == [False, False, True]
    assert stopper.wait_count == state.wait == 2
    assert float(stopper.best_score) == pytest.approx(state.best)
    assert stopper.stopped_epoch == 2

    kept = sorted(p.name for p in (tmp_path / "ckpt").glob("*.ckpt"))
    expected = [checkpoint_rule.TOP_K_FILENAME.format(epoch=e, val_loss=values[e]) + ".ckpt"
                for e in (0, 1)]
    assert kept == expected
    assert Path(ckpt.best_model_path).name == expected[0]
    assert (tmp_path / "ckpt" / "best.soen").is_file()
