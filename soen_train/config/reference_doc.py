"""Generates docs/configuration.md from the schema dataclasses, so the reference cannot drift.

Each field's description is its `#:` comment in `schema.py`. Regenerate with
`python -m soen_train.config.reference_doc > docs/configuration.md`; a test compares.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from typing import Any, Dict, List

from omegaconf import MISSING

from soen_train.config.guide_aliases import alias_table_markdown
from soen_train.config.schema import SOENTrainConfig

HEADER = """# Configuration reference

Every section and key of a soen-train job with its default. Generated from
`soen_train/config/schema.py` by `python -m soen_train.config.reference_doc`; do not edit by hand.
Override any key on the command line (`soen-train experiment=pulses training.max_epochs=3`)
or pick a config-group option (`optimizer=lion`). An unknown key is an error that names the
closest valid key.

Config groups (`group=option`) and the section they fill:

| group | fills | options |
|---|---|---|
"""

GROUPS = [
    ("optimizer", "training.optimizer"),
    ("loss", "training.loss"),
    ("time_pooling", "model.time_pooling"),
    ("lr_scheduler", "callbacks.lr_scheduler"),
    ("logger", "logging"),
    ("arch", "model.architecture"),
    ("experiment", "whole job (`experiment=NAME`)"),
    ("sweep", "a ready multirun (`-m ... sweep=NAME`)"),
    ("debug", "training (short runs)"),
    ("launcher", "hydra/launcher"),
    ("hparams_search", "hydra/sweeper"),
]


def field_docs(cls: type) -> Dict[str, str]:
    """Map field name -> the `#:` comment block written above it in the class source."""
    docs: Dict[str, str] = {}
    pending: List[str] = []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", stripped)
        if match and pending:
            docs[match.group(1)] = " ".join(pending)
        pending = []
    return docs


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    else:
        return "(required)"
    if value == MISSING:
        return "(required)"
    if dataclasses.is_dataclass(value):
        return None
    if isinstance(value, str) and value.startswith("${"):
        return f"`{value}`"
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        value = [dataclasses.asdict(v) for v in value]
    return f"`{value!r}`" if value is not None else "`null`"


def _type_name(tp: Any) -> str:
    text = str(tp).replace("typing.", "").replace("soen_train.config.schema.", "")
    return re.sub(r"<class '(\w+)'>", r"\1", text)


def _section(cls: type, path: str, out: List[str]) -> None:
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    rows, subs = [], []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(tp):
            subs.append((tp, key))
            continue
        rows.append(f"| `{key}` | {_type_name(tp)} | {_default(f)} | {docs.get(f.name, '')} |")
    if rows:
        title = path or "top level"
        doc = (inspect.getdoc(cls) or "").splitlines()[0]
        out += [
            f"## `{title}`",
            "",
            doc,
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        out += rows + [""]
    for tp, key in subs:
        _section(tp, key, out)


def render() -> str:
    """The whole reference page as Markdown."""
    from soen_train.config.conf_dir import CONF_DIR

    conf = CONF_DIR
    lines = [HEADER.rstrip("\n")]
    for group, target in GROUPS:
        folder = conf / group
        options = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
        lines.append(f"| `{group}` | {target} | {', '.join(options) or '-'} |")
    lines.append("")
    _section(SOENTrainConfig, "", lines)
    lines += [alias_table_markdown(), "", loss_param_alias_markdown(), ""]
    return "\n".join(lines).rstrip() + "\n"


def loss_param_alias_markdown() -> str:
    """The original toolkit's loss parameter names accepted as aliases of ours."""
    from soen_train.training.losses.param_aliases import LOSS_PARAM_ALIASES

    lines = [
        "Loss parameters of the original accepted under their old names:",
        "",
        "| loss | original param | soen-train param |",
        "|---|---|---|",
    ]
    for loss, table in sorted(LOSS_PARAM_ALIASES.items()):
        lines += [f"| `{loss}` | `{old}` | `{new}` |" for old, new in table.items()]
    return "\n".join(lines)


def main() -> None:
    """Print the reference to stdout."""
    print(render(), end="")


if __name__ == "__main__":
    main()
