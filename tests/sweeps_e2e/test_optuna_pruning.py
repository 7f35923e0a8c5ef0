"""Median pruning stops trials of a search built so that half of its settings are bad.

The bad setting multiplies the pooled output by 400 before the softmax (time pooling
`scale`), which usually makes its first epochs' val_loss much worse than the good setting's
(scale 5). Every pruning decision is checked against the median rule itself (a pruned trial's
best report was above the median of the earlier completed trials at that epoch), not against
which setting was meant to be bad (on the tiny data a scale-400 trial sometimes learns).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sweep_cli import job_result, load_study, run_cli, tiny_job_args

GOOD_SCALE, BAD_SCALE = 5.0, 400.0
EPOCHS = 3


def test_median_pruner_prunes_bad_trials_early(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_cli(
        [
            "-m",
            *tiny_job_args(tmp_path),
            f"training.max_epochs={EPOCHS}",
            "hydra/sweeper=optuna",
            "hydra/sweeper/pruner=median",
            "hydra.sweeper.pruner.n_startup_trials=1",
            "hydra.sweeper.pruner.n_warmup_steps=0",
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.sampler.seed=0",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.n_jobs=1",
            "hydra.sweeper.study_name=pruned",
            f"hydra.sweep.dir={sweep_dir}",
            f"model.time_pooling.params.scale=choice({GOOD_SCALE}, {BAD_SCALE})",
            "seed=choice(1, 2, 3)",
        ],
        cwd=tmp_path,
    )

    trials = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}", "pruned").get_trials()
    assert len(trials) == 6
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert any(t.params["model.time_pooling.params.scale"] == BAD_SCALE for t in pruned)
    assert complete, "the first trial cannot be pruned (n_startup_trials=1)"

    # Each epoch was reported as an intermediate value; pruned trials stopped before the end.
    for trial in complete:
        assert sorted(trial.intermediate_values) == list(range(EPOCHS))
        assert trial.value == min(trial.intermediate_values.values())
    for trial in pruned:
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(len(steps))) and len(steps) < EPOCHS
        # pruned: its best report so far was worse than the median, at that epoch, of the
        # trials completed before it (jobs run one at a time, so: the lower-numbered ones)
        last = steps[-1]
        earlier = [t.intermediate_values[last] for t in complete if t.number < trial.number]
        assert earlier and min(trial.intermediate_values.values()) > np.percentile(earlier, 50)
        result = job_result(Path(trial.user_attrs["job_dir"]))
        assert result["status"] == "pruned" and "TrialPruned" in result["error"]
