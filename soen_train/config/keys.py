"""Which dotted key paths the schema has, and the one-line error for a key it does not have.

Struct mode for the command line: every override path (written with or without ``+``) is walked
through the schema's type annotations. Dataclass sections only accept their fields, lists of
dataclasses accept an index then the item's fields, and dict-typed fields (loss ``params``,
scheduler settings, ``model.architecture``, ``data.dataset_params``) are free-form below them:
their contents are checked by the catalog or the architecture parser they are handed to.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, List, Optional

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig
from soen_train.registry import closest

# Top-level schema section -> the section of the original toolkit's user guide it follows.
GUIDE_SECTIONS = {
    "training": "Training Section",
    "data": "Data Section",
    "model": "Model Section",
    "logging": "Logging Section",
    "profiler": "Profiler Section",
    "callbacks": "Callbacks Section",
    "seed": "Training Configuration Structure",
    "description": "Training Configuration Structure",
}
# Guide sections that are not config sections here, with where the feature lives instead.
NOT_SECTIONS = {
    "cloud": "the guide's Cloud Training section is not a config section in soen-train: run on a "
    "cluster with launcher=slurm (docs/sweeps.md)",
    "trainer": "Lightning Trainer options are not passed through; the guide's Training Section "
    "keys (training.max_epochs, training.limit_train_batches, ...) set them, and debug=fast "
    "makes a quick check run",
}


def _unwrap_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Union and len(args) == 1:
        return args[0]
    return tp


def schema_keys(cls: type = SOENTrainConfig, prefix: str = "") -> List[str]:
    """Every dotted key path the schema declares (dict-typed fields end the path)."""
    keys: List[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        keys.append(path)
        sub = hints[f.name]
        if dataclasses.is_dataclass(sub):
            keys.extend(schema_keys(sub, path + "."))
    return keys


def _unknown_at(parts: List[str]) -> Optional[int]:
    """Index of the first part of ``parts`` the schema does not have (None: the path is valid)."""
    tp: Any = SOENTrainConfig
    for i, part in enumerate(parts):
        tp = _unwrap_optional(tp)
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            if part not in hints:
                return i
            tp = hints[part]
            continue
        origin = typing.get_origin(tp)
        if origin in (list, List):
            if not part.lstrip("-").isdigit():
                return i
            (tp,) = typing.get_args(tp) or (Any,)
            continue
        return None  # a dict, Any or a scalar's value: free-form below this point
    return None


def guide_section(key: str) -> str:
    """Where the user guide describes the section ``key`` belongs to (for error messages)."""
    top = key.lstrip("+~").split(".")[0]
    section = GUIDE_SECTIONS.get(top)
    if section:
        return f"see the guide's {section} and docs/configuration.md#{top}"
    return "see docs/configuration.md for every section and key"


def check_override_key(key: str) -> None:
    """Raise ConfigError naming the closest valid key when ``key`` is not in the schema.

    ``key`` may carry Hydra's ``+``/``++``/``~`` prefixes: adding a key the schema does not
    have is as much an error as setting it.
    """
    key = key.lstrip("+~")
    parts = key.split(".")
    bad = _unknown_at(parts)
    if bad is None:
        return
    keys = schema_keys()
    if bad == 0 and parts[0] in NOT_SECTIONS:
        raise ConfigError(f"unknown config key '{key}': {NOT_SECTIONS[parts[0]]}")
    # compare the first wrong component with its siblings: `training.optimiser.lr` ->
    # `training.optimizer.lr`; else the whole path with every key of the same depth
    section = ".".join(parts[:bad])
    siblings = [k.rsplit(".", 1)[-1] for k in keys if (k.rsplit(".", 1)[0] if "." in k else "") == section]
    leaf = closest(parts[bad], siblings)
    if leaf is not None:
        hint: Optional[str] = ".".join([*parts[:bad], leaf, *parts[bad + 1:]])
    else:
        hint = closest(key, [k for k in keys if k.count(".") == key.count(".")])
    msg = f"unknown config key '{key}'"
    msg += f" (did you mean '{hint}'?)" if hint else ""
    if bad == 0:
        sections = sorted({k.split(".")[0] for k in keys})
        raise ConfigError(msg + f"; top-level keys are: {', '.join(sections)}")
    raise ConfigError(msg + f"; {guide_section(key)}")
