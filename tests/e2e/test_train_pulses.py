"""`soen-train +experiment=pulses` end to end: files, TensorBoard events, MLflow runs, result."""

import json
from pathlib import Path

from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def _events(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc


def test_pulses_trains_and_records_everything(cli, tiny_pulses):
    out = cli("+experiment=pulses", *tiny_pulses, "hydra.run.dir=run")
    group = cli.project_dir / "project_soen" / "experiment_pulses" / "group_default_group"
    ckpts = group / "checkpoints" / "repeat_0"
    assert (ckpts / "last.ckpt").is_file()
    assert (ckpts / "best.soen").is_file()
    best = [p for p in ckpts.glob("epoch=*-val_loss=*.ckpt")]
    assert len(best) == 1 and "/" not in best[0].name

    acc = _events(group / "logs" / "repeat_0")
    tags = acc.Tags()["scalars"]
    for tag in ("train_loss", "val_loss", "val_accuracy", "lr", "test_loss", "test_accuracy"):
        assert tag in tags, (tag, tags)
    val_losses = [e.value for e in acc.Scalars("val_loss")]
    assert len(val_losses) == 2

    result = json.loads((cli.root / "run" / "soen_result.json").read_text())
    assert result["status"] == "completed"
    assert result["objective_metric"] == "val_loss"
    assert abs(result["objective"] - min(val_losses)) < 1e-6
    assert result["repeats"][0]["seed"] == 42

    # the composed config is saved by Hydra; the short summary names the groups and changes
    assert (cli.root / "run" / ".hydra" / "config.yaml").is_file()
    first = out.stdout.splitlines()[0]
    assert first.startswith("soen-train: ") and "experiment=pulses" in first and "arch=pulse_net" in first
    assert "soen-train config" not in out.stdout  # the whole tree only with print_config=full

    client = MlflowClient(
        tracking_uri=f"sqlite:///{cli.project_dir / 'project_soen' / 'mlflow.db'}"
    )
    exp = client.get_experiment_by_name("pulses")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["repeat"] == "0" and run.data.tags["seed"] == "42"
    assert run.data.params["training.max_epochs"] == "2"
    assert abs(run.data.metrics["val_loss"] - val_losses[-1]) < 1e-6
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert "best.soen" in artifacts


def test_typo_is_one_line_error_with_suggestion(cli, tiny_pulses):
    out = cli("+experiment=pulses", "training.max_epoch=3", expect_ok=False)
    assert out.returncode == 2
    assert "did you mean 'training.max_epochs'" in out.stderr
    assert "Traceback" not in out.stderr
