"""Prints the composed config as a rich tree at the start of a job (secrets masked)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from soen_train.config.secrets import MASK, is_secret_key, redact

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


def config_summary(choices: dict, overrides: list) -> str:
    """The short form: the option chosen in each config group and the keys set on the
    command line (secrets masked), in a few lines."""
    picked = [f"{g}={o}" for g, o in sorted(choices.items())
              if o is not None and not g.startswith("hydra") and "/" not in g]
    changed = [o for o in overrides if "=" in o and o.split("=", 1)[0].lstrip("+~") not in choices]
    masked = [f"{k}={MASK}" if is_secret_key(k.rsplit(".", 1)[-1]) else f"{k}={v}"
              for k, v in (o.split("=", 1) for o in changed)]
    lines = ["soen-train: " + " ".join(picked)]
    if masked:
        lines.append("  changed: " + " ".join(masked))
    lines.append("  (the whole config: logging.print_config=full, or --cfg job without training)")
    return "\n".join(lines)


def print_config(cfg: DictConfig, mode: str, choices: dict, overrides: list) -> None:
    """Print the job's config as ``logging.print_config`` asks (short, full or none)."""
    if mode == "full":
        print_config_tree(cfg)
    elif mode == "short":
        print(config_summary(choices, overrides), flush=True)


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
