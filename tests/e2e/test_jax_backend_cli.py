"""`training.backend=jax` through the real command: same layout, same tags, close accuracy."""

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_pulses_with_the_jax_backend(cli, tiny_pulses):
    cli("+experiment=pulses", *tiny_pulses, "training.backend=jax", "logger=tensorboard",
        "hydra.run.dir=run")
    result = json.loads((cli.root / "run" / "soen_result.json").read_text())
    assert result["status"] == "completed"
    metrics = result["repeats"][0]["metrics"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    group = cli.project_dir / "project_soen" / "experiment_pulses" / "group_default_group"
    assert (group / "checkpoints" / "repeat_0" / "best.soen").is_file()
    acc = EventAccumulator(str(group / "logs" / "repeat_0"))
    acc.Reload()
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(acc.Tags()["scalars"])


def test_torch_only_feature_is_refused_by_the_jax_backend(cli, tiny_pulses):
    out = cli("+experiment=pulses", *tiny_pulses, "training.backend=jax", "training.use_tbptt=true",
              "training.tbptt_steps=8", expect_ok=False)
    assert out.returncode == 2
    assert "use_tbptt" in out.stderr and "Traceback" not in out.stderr
