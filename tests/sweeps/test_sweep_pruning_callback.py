"""OptunaPruningCallback inside a real (tiny) Lightning fit, reporting to a real SQLite trial."""

from __future__ import annotations

import lightning.pytorch as pl
import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution

from soen_train.sweeps.pruning import OptunaPruningCallback
from soen_train.sweeps.storage import open_storage
from soen_train.sweeps.study_setup import open_study
from soen_train.sweeps.trial_context import (
    ENV_STORAGE,
    ENV_STUDY,
    ENV_TRIAL,
    TrialContextError,
)

EPOCHS = 3


class ShrinkingLoss(pl.LightningModule):
    """One parameter w; val_loss = w^2 exactly, and SGD on w^2 shrinks it by (1 - 2 lr) per step."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(1.0))
        self.val_history: list = []

    def training_step(self, batch, batch_idx):
        return self.w**2

    def validation_step(self, batch, batch_idx):
        loss = (self.w**2).detach()
        self.val_history.append(float(loss))
        self.log("val_loss", loss)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.25)


def loader() -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(torch.zeros(1, 1), batch_size=1)


def fit(callback: OptunaPruningCallback) -> ShrinkingLoss:
    model = ShrinkingLoss()
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(model, loader(), loader())
    return model


def running_trial(url: str, pruner_cfg, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    study = open_study(
        open_storage(url), "cb", ["minimize"], optuna.samplers.RandomSampler(0), pruner_cfg
    )
    trial = study.ask({"x": FloatDistribution(0, 1)})
    monkeypatch.setenv(ENV_STORAGE, url)
    monkeypatch.setenv(ENV_STUDY, "cb")
    monkeypatch.setenv(ENV_TRIAL, str(trial.number))
    return study


def test_reports_val_loss_each_epoch(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    study = running_trial(sqlite_url, None, monkeypatch)
    model = fit(OptunaPruningCallback(monitor="val_loss"))
    reported = study.trials[0].intermediate_values
    # One value per epoch, not for the sanity check; w after k steps is 0.5^k, so w^2 = 0.25^k.
    assert sorted(reported) == list(range(EPOCHS))
    for epoch, value in reported.items():
        assert value == pytest.approx(0.25 ** (epoch + 1))
    assert model.val_history[0] == pytest.approx(1.0)  # the sanity check ran but was not reported


def test_pruner_stops_the_fit_with_trial_pruned(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ThresholdPruner prunes any value above 0.1; epoch 0 reports 0.25, so the fit stops there.
    study = running_trial(
        sqlite_url, {"_target_": "optuna.pruners.ThresholdPruner", "upper": 0.1}, monkeypatch
    )
    with pytest.raises(optuna.TrialPruned, match="epoch 0"):
        fit(OptunaPruningCallback(monitor="val_loss"))
    assert study.trials[0].intermediate_values == {0: pytest.approx(0.25)}


def test_global_step_unit_and_errors(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    study = running_trial(sqlite_url, None, monkeypatch)
    fit(OptunaPruningCallback(step_unit="global_step"))
    assert sorted(study.trials[0].intermediate_values) == [1, 2, 3]  # one optimiser step per epoch
    with pytest.raises(ValueError, match="step_unit"):
        OptunaPruningCallback(step_unit="batch")
    with pytest.raises(KeyError, match="val_accuracy"):
        fit(OptunaPruningCallback(monitor="val_accuracy"))


def test_needs_a_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TrialContextError, match="hydra/sweeper=optuna"):
        OptunaPruningCallback()
