"""A run stopped after epoch 2 and resumed ends with the same weights as an uninterrupted run."""

import torch

ARGS = [
    "+experiment=pulses",
    "training.deterministic=true",
    "lr_scheduler=cosine",
    "callbacks.lr_scheduler.cycle_epochs=2",
    "logger=tensorboard",
]


def _last(cli, project):
    path = (
        cli.root
        / project
        / "project_soen"
        / "experiment_pulses"
        / "group_default_group"
        / "checkpoints"
        / "repeat_0"
        / "last.ckpt"
    )
    return path, torch.load(path, map_location="cpu", weights_only=True)


def test_resume_reaches_the_same_weights(cli, tiny_pulses):
    cli(*ARGS, *tiny_pulses, "training.max_epochs=4", "logging.project_dir=full", "hydra.run.dir=a")
    cli(
        *ARGS, *tiny_pulses, "training.max_epochs=2", "logging.project_dir=split", "hydra.run.dir=b"
    )
    path, half = _last(cli, "split")
    assert half["epoch"] == 1
    cli(
        *ARGS,
        *tiny_pulses,
        "training.max_epochs=4",
        "logging.project_dir=split",
        "hydra.run.dir=c",
        f"training.train_from_checkpoint={path}",
    )
    _, full = _last(cli, "full")
    _, resumed = _last(cli, "split")
    assert full["global_step"] == resumed["global_step"]
    assert full["state_dict"].keys() == resumed["state_dict"].keys()
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
