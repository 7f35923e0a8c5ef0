"""The documented DDP command on 2 CPU processes (gloo) with splits that do not divide evenly.

Split sizes are chosen so that neither the samples nor the batches (batch size 32) divide over
2 processes: 75 train samples = 3 batches (the last of 11), 37 val = 19 + 18 samples, 29 test =
15 + 14. The metrics the DDP run logged must be those of a single-process evaluation of the
same weights on the same data: no sample counted twice, none left out.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sweep_cli import SOEN_TRAIN, TINY_PULSES_ARGS, _env, job_result, run_cli

SIZES = [
    "data.dataset_params.n_train=75",
    "data.dataset_params.n_val=37",
    "data.dataset_params.n_test=29",
]


def _single_process_metrics(checkpoint: Path, split: str, out: Path) -> dict:
    """`soen-train-eval` (one process) of a checkpoint on a split of the run's dataset."""
    program = str(Path(SOEN_TRAIN).with_name("soen-train-eval"))
    subprocess.run(
        [program, str(checkpoint), "--split", split, "--output", str(out)],
        env=_env(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return json.loads(out.read_text())


def test_ddp_with_uneven_shards_logs_the_single_process_metrics(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = run_cli(
        [
            "+experiment=pulses",
            *TINY_PULSES_ARGS,
            *SIZES,
            "training.batch_size=32",
            f"logging.project_dir={tmp_path / 'experiments'}",
            f"data.data_path={tmp_path / 'data' / 'pulses.h5'}",
            "logger=tensorboard",
            "training.strategy=ddp",
            "training.devices=2",
            "training.accelerator=cpu",
            "training.test_checkpoint=best",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
    )
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in out.stdout + out.stderr
    [repeat] = job_result(run_dir)["repeats"]
    logged = repeat["metrics"]
    assert logged["epochs_trained"] == 2.0

    best = Path(repeat["best_checkpoint"])
    test = _single_process_metrics(best, "test", tmp_path / "test.json")
    assert logged["test_loss"] == pytest.approx(test["test_loss"], rel=1e-5)
    assert logged["test_accuracy"] == pytest.approx(test["test_accuracy"], abs=1e-6)
    # last.ckpt holds the weights of the last epoch, whose validation gave the final_* values
    val = _single_process_metrics(best.parent / "last.ckpt", "val", tmp_path / "val.json")
    assert logged["final_val_loss"] == pytest.approx(val["val_loss"], rel=1e-5)
    assert logged["final_val_accuracy"] == pytest.approx(val["val_accuracy"], abs=1e-6)
    # the DDP accuracy is k/37 (a repeated sample would make it k/38)
    correct = logged["final_val_accuracy"] * 37
    assert correct == pytest.approx(round(correct), abs=1e-4)
