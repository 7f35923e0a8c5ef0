"""Key names of the original SOEN toolkit's user guide that soen-train spells differently.

The guide (and the original's trainer) uses a few key paths that soen-train names otherwise.
``KEY_ALIASES`` maps each such guide path to the schema path with the same meaning; the
command line accepts either (``logging.track_gradients=true`` is read as
``logging.log_gradients=true``). ``REFUSED_KEYS`` lists guide paths that have no one-to-one
counterpart, each with a message naming the soen-train key to use instead. Both tables are
shown in docs/configuration.md, and ``--from-file`` (original_training_yaml.py) uses the same
aliases when it translates a whole training YAML.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from soen_train.config.errors import ConfigError

#: Guide key path -> soen-train key path with the same meaning.
KEY_ALIASES: Dict[str, str] = {
    "logging.track_gradients": "logging.log_gradients",
    "model.backend": "training.backend",
    "model.range_start": "model.time_pooling.params.range_start",
    "model.range_end": "model.time_pooling.params.range_end",
    "model.model_path": "model.base_model_path",
    "training.losses": "training.loss.losses",
    "scheduler": "callbacks.lr_scheduler",
    "callbacks.quantized_accuracy": "callbacks.metrics.quantized_accuracy",
}

_SIMULATION_HINT = (
    "is a simulation setting of the model, not of the training config: set "
    "`simulation.{leaf}` in the architecture YAML (model.architecture_yaml), or "
    "model.architecture.simulation.{leaf}=... with an inline arch=<name>"
)

#: Guide key paths without a one-to-one counterpart, with what to use instead.
REFUSED_KEYS: Dict[str, str] = {
    "network_evaluation_method": _SIMULATION_HINT,
    "track_phi": _SIMULATION_HINT,
    "track_s": _SIMULATION_HINT,
    "track_g": _SIMULATION_HINT,
    "sim_config": _SIMULATION_HINT,
    "simulation": _SIMULATION_HINT,
    "model.network_evaluation_method": _SIMULATION_HINT,
    "callbacks.stateful_training.verbose": (
        "only switched the original's log lines about each state carry-over; soen-train "
        "writes none, so drop the key (the carry-over itself is callbacks.stateful_training."
        "enable_for_training / enable_for_validation)"
    ),
    "callbacks.time_pooling_scale_scheduler.verbose": (
        "the pooling scale is always logged as callbacks/time_pooling_scale; drop the key"
    ),
    "logging.log_batch_metrics": (
        "soen-train logs train_loss_step every logging.log_freq steps and train metrics per "
        "epoch; drop the key"
    ),
    "training.use_cloud": "cloud (SageMaker) jobs are not part of soen-train: use launcher=slurm",
    "cloud": "cloud (SageMaker) jobs are not part of soen-train: use launcher=slurm",
}


def _lookup(table: Dict[str, str], key: str) -> Optional[Tuple[str, str]]:
    """(guide prefix, entry) for the longest guide path that is ``key`` or a parent of it."""
    parts = key.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in table:
            return prefix, table[prefix]
    return None


def resolve_alias(key: str) -> Optional[str]:
    """Our key path for guide path ``key`` (or a path below an aliased one); None if not aliased."""
    hit = _lookup(KEY_ALIASES, key)
    if hit is None:
        return None
    prefix, target = hit
    return target + key[len(prefix):]


def refusal(key: str) -> Optional[str]:
    """The one-line error for a guide key without a counterpart, or None."""
    hit = _lookup(REFUSED_KEYS, key)
    if hit is None:
        return None
    leaf = key.rsplit(".", 1)[-1] if key != hit[0] or "." in key else key
    return f"'{key}' (a key of the original SOEN toolkit) {hit[1].format(leaf=leaf)}"


def rewrite_overrides(args: List[str]) -> List[str]:
    """Command-line overrides with guide key paths replaced by ours; refused guide keys raise.

    Only ``key=value`` overrides (optionally with a leading ``+``/``++``/``~``) are looked at;
    flags and config-group choices pass through unchanged.
    """
    out: List[str] = []
    for arg in args:
        if arg.startswith("-") or "=" not in arg and not arg.startswith("~"):
            out.append(arg)
            continue
        prefix = ""
        body = arg
        while body[:1] in ("+", "~"):
            prefix, body = prefix + body[0], body[1:]
        key, sep, value = body.partition("=")
        if key.startswith("hydra") or "/" in key:
            out.append(arg)
            continue
        message = refusal(key)
        if message is not None:
            raise ConfigError(message)
        target = resolve_alias(key)
        out.append(f"{prefix}{target}{sep}{value}" if target else arg)
    return out


def alias_table_markdown() -> str:
    """The aliases and refused guide keys as Markdown, for docs/configuration.md."""
    lines = [
        "## Key names of the original SOEN toolkit",
        "",
        "The original's guide spells these keys differently; soen-train accepts the guide's",
        "name on the command line and in `--from-file` training YAMLs as an alias of ours.",
        "",
        "| guide key | soen-train key |",
        "|---|---|",
    ]
    lines += [f"| `{old}` | `{new}` |" for old, new in sorted(KEY_ALIASES.items())]
    lines += [
        "",
        "Guide keys without a one-to-one counterpart are refused with a message naming what to",
        "use instead:",
        "",
        "| guide key | use instead |",
        "|---|---|",
    ]
    lines += [f"| `{old}` | {why.format(leaf='<key>')} |" for old, why in sorted(REFUSED_KEYS.items())]
    return "\n".join(lines)
