"""The guide's other first commands: mnist from IDX files, digits with swapped groups, a grid."""

import json

import numpy as np
from mlflow.tracking import MlflowClient

from soen_train.data import write_idx


def _mlflow(cli):
    return MlflowClient(tracking_uri=f"sqlite:///{cli.project_dir / 'project_soen' / 'mlflow.db'}")


def test_mnist_from_idx_files_with_lr_override(cli, tiny_pulses):
    rng = np.random.default_rng(0)
    src = cli.root / "data" / "mnist"
    src.mkdir(parents=True)
    for prefix, n in (("train", 120), ("t10k", 40)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        images[np.arange(n), labels * 2, :] = 255  # a learnable cue: a bright row per class
        write_idx(src / f"{prefix}-images-idx3-ubyte", images)
        write_idx(src / f"{prefix}-labels-idx1-ubyte", labels)
    cli(
        "+experiment=mnist",
        "training.lr=1e-3",
        "training.max_epochs=1",
        "logging.progress_bar=false",
        "hydra.run.dir=run",
    )
    result = json.loads((cli.root / "run" / "soen_result.json").read_text())
    assert result["status"] == "completed"
    metrics = result["repeats"][0]["metrics"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and np.isfinite(metrics["val_loss"])
    cfg = (cli.root / "run" / ".hydra" / "config.yaml").read_text()
    assert "lr: 0.001" in cfg


def test_mnist_without_files_names_where_to_put_them(cli, tiny_pulses):
    out = cli("+experiment=mnist", expect_ok=False)
    assert out.returncode == 2
    assert "train-images-idx3-ubyte" in out.stderr and "mnist" in out.stderr
    assert "Traceback" not in out.stderr


def test_digits_with_swapped_groups_and_repeats(cli, tiny_pulses):
    cli(
        "+experiment=digits",
        "time_pooling=ewa",
        "lr_scheduler=cosine",
        "optimizer=lion",
        "training.num_repeats=2",
        "training.max_epochs=1",
        "logging.progress_bar=false",
        "hydra.run.dir=run",
    )
    group = cli.project_dir / "project_soen" / "experiment_digits" / "group_default_group"
    for k in (0, 1):
        assert (group / "checkpoints" / f"repeat_{k}" / "best.soen").is_file()
        assert list((group / "logs" / f"repeat_{k}").glob("events.out.tfevents.*"))
    result = json.loads((cli.root / "run" / "soen_result.json").read_text())
    assert [r["seed"] for r in result["repeats"]] == [42, 43]
    cfg = (cli.root / "run" / ".hydra" / "config.yaml").read_text()
    assert "name: lion" in cfg and "name: ewa" in cfg and "type: cosine" in cfg
    client = _mlflow(cli)
    exp = client.get_experiment_by_name("digits")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["seed"] for r in runs) == ["42", "43"]


def test_grid_multirun_two_jobs_two_mlflow_runs_under_a_parent(cli, tiny_pulses):
    cli("-m", "+experiment=pulses", "training.lr=1e-3,1e-2", *tiny_pulses, "hydra.sweep.dir=sweep")
    results = [
        json.loads((cli.root / "sweep" / str(j) / "soen_result.json").read_text()) for j in (0, 1)
    ]
    assert all(r["status"] == "completed" for r in results)
    assert sorted(o for r in results for o in r["overrides"] if o.startswith("training.lr")) == [
        "training.lr=0.001",
        "training.lr=0.01",
    ]
    client = _mlflow(cli)
    exp = client.get_experiment_by_name("pulses")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("soen.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert sorted(c.data.params["training.lr"] for c in children) == ["0.001", "0.01"]
