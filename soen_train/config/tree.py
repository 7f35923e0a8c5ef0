"""Prints the composed config as a rich tree at the start of a job (secrets masked)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from soen_train.config.secrets import redact

SECTION_ORDER = (
    "seed",
    "description",
    "training",
    "data",
    "model",
    "logging",
    "profiler",
    "callbacks",
)


def _add(node: Any, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                _add(node.add(f"[bold]{k}[/bold]"), v)
            else:
                node.add(f"{k}: {v!r}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list)):
                _add(node.add(f"- [{i}]"), v)
            else:
                node.add(f"- {v!r}")


def print_config_tree(cfg: DictConfig) -> None:
    """Render every section of the job's config, in the guide's order."""
    from rich.console import Console
    from rich.tree import Tree

    data = redact(OmegaConf.to_container(cfg, resolve=True))
    root = Tree("[bold cyan]soen-train config[/bold cyan]")
    for key in sorted(data, key=lambda k: SECTION_ORDER.index(k) if k in SECTION_ORDER else 99):
        value = data[key]
        if isinstance(value, dict):
            _add(root.add(f"[bold]{key}[/bold]"), value)
        else:
            root.add(f"{key}: {value!r}")
    Console(stderr=False).print(root)
