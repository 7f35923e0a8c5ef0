"""Generates docs/catalog.md from the catalog declarations, so the reference cannot drift.

Every table row comes from a declaration in ``soen_train.catalog`` (name, aliases, params with
defaults, needs, what it computes, which backend lacks it and why) or, for the LR schedules,
from the torch registry's signatures; the prose around the tables is in
``catalog_doc_text``. Regenerate with
`python -m soen_train.config.catalog_doc > docs/catalog.md`; a test compares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, List, Sequence, Tuple

from soen_train.catalog.declaration import REQUIRED, Catalog, Declaration
from soen_train.catalog.layers import LAYER_CATALOG, SOURCE
from soen_train.catalog.loss_param_aliases import LOSS_PARAM_ALIASES
from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.catalog.metrics import METRIC_CATALOG
from soen_train.catalog.optimizers import OPTIMIZER_CATALOG
from soen_train.catalog.source_functions import CURRENT, SOURCE_CATALOG
from soen_train.catalog.time_pooling import POOLING_CATALOG
from soen_train.config import catalog_doc_text as groups
from soen_train.config import catalog_doc_text as text


def format_default(value: Any) -> str:
    """A default as the YAML user writes it (null, true, 1e-06, (0.9, 0.999), required)."""
    if value is REQUIRED:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, str) else repr(value)


def params_cell(params: Mapping[str, Any], notes: str = "") -> str:
    """```name` (default), ...`` plus the declaration's notes; an em dash for none."""
    cell = ", ".join(f"`{k}` ({format_default(v)})" for k, v in params.items())
    if notes:
        cell = f"{cell}; {notes}" if cell else notes
    return cell or "—"


def _cell(value: str) -> str:
    """Table-safe text: a literal ``|`` is escaped."""
    return value.replace("|", "\\|")


def name_cell(decl: Declaration) -> str:
    """```name``` with its aliases."""
    aliases = ", ".join(f"`{a}`" for a in decl.aliases)
    return f"`{decl.name}`" + (f" (also {aliases})" if aliases else "")


def jax_cell(decl: Declaration) -> str:
    """``yes``, or ``no:`` and the declared reason."""
    reason = decl.missing.get("jax")
    return f"no: {reason}" if reason else "yes"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table (cells escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _ordered(catalog: Catalog, names: Sequence[str]) -> List[Declaration]:
    """The declarations of ``names``; every declared entry must be placed in the doc once."""
    listed = set(groups.all_listed(catalog.kind, names))
    if listed != set(catalog.names()):
        raise ValueError(
            f"docs/catalog.md: the {catalog.kind} entries {sorted(set(catalog.names()) - listed)} "
            "are declared but not placed in catalog_doc_text"
        )
    return [catalog.declaration(n) for n in names]


def _loss_params(decl: Declaration) -> str:
    cell = params_cell(decl.params, decl.param_notes)
    aliases = LOSS_PARAM_ALIASES.get(decl.name, {})
    if aliases:
        pairs = ", ".join(f"`{o}` for `{ours}`" for o, ours in aliases.items())
        cell = f"{cell}; the original's names are accepted: {pairs}"
    return cell


def _needs_cell(decl: Declaration) -> str:
    return ", ".join(sorted(decl.needs)) or "—"


def pooling_section() -> str:
    """Time pooling: intro, one row per declared method, example."""
    rows = [
        (name_cell(d), d.summary, params_cell(d.params, d.param_notes), jax_cell(d))
        for d in _ordered(POOLING_CATALOG, groups.POOLING_ORDER)
    ]
    head = ("name", "result", "params (default)", "JAX")
    return f"{text.POOLING_INTRO}\n{table(head, rows)}\n{text.POOLING_AFTER}"


def losses_section() -> str:
    """Losses: intro, one table per group of losses, the codebook rules, the contract."""
    out = [text.LOSSES_INTRO]
    for heading, names in groups.LOSS_GROUPS:
        rows = [
            (name_cell(d), d.summary, _loss_params(d), _needs_cell(d), jax_cell(d))
            for d in _ordered(LOSS_CATALOG, names)
        ]
        head = ("name", "value", "params (default)", "needs", "JAX")
        out.append(f"### {heading}\n\n{table(head, rows)}")
        if names == groups.CODEBOOK_GROUP:
            out.append(text.CODEBOOK_RULES)
    out.append(text.LOSS_CONTRACT)
    return "\n".join(out)


def metrics_section() -> str:
    """Metrics (torch only; the JAX loop calls the same functions on host arrays)."""
    rows = [(name_cell(d), d.summary) for d in _ordered(METRIC_CATALOG, groups.METRIC_ORDER)]
    return f"{text.METRICS_INTRO}\n{table(('name', 'value'), rows)}"


def optimizers_section() -> str:
    """Optimizers: every declared option with its default."""
    rows = [
        (name_cell(d), d.summary, params_cell(d.params), jax_cell(d))
        for d in _ordered(OPTIMIZER_CATALOG, groups.OPTIMIZER_ORDER)
    ]
    head = ("name", "rule", "options (default)", "JAX")
    return f"{text.OPTIMIZERS_INTRO}\n{table(head, rows)}\n{text.OPTIMIZERS_AFTER}"


def lr_schedules_section() -> str:
    """LR schedules: params read from the torch registry (the JAX loop uses the same curves)."""
    from soen_train.training.lr_schedules import LR_SCHEDULES, schedule_parameters

    if sorted(text.LR_SCHEDULE_SUMMARIES) != LR_SCHEDULES.names():
        raise ValueError(f"docs/catalog.md: LR schedules {LR_SCHEDULES.names()} need summaries")
    rows = [
        (f"`{name}`", summary, params_cell(schedule_parameters(name)))
        for name, summary in text.LR_SCHEDULE_SUMMARIES.items()
    ]
    head = ("type", "LR at step n", "params (default)")
    return f"{text.LR_INTRO}\n{table(head, rows)}\n{text.LR_AFTER}"


def loss_weight_section() -> str:
    """Loss-weight schedules: params read from the torch registry's constructors."""
    from soen_train.registry import signature_params
    from soen_train.training.loss_weight_schedules import LOSS_WEIGHT_SCHEDULES as reg

    rows = []
    for name, (summary, notes) in text.LOSS_WEIGHT_SUMMARIES.items():
        aliases = [a for a in reg.names(with_aliases=True) if a != name and reg.canonical(a) == name]
        label = f"`{name}`" + (f" ({', '.join(f'`{a}`' for a in aliases)})" if aliases else "")
        rows.append((label, summary, params_cell(signature_params(reg.get(name).__init__, skip=1), notes)))
    if sorted(text.LOSS_WEIGHT_SUMMARIES) != reg.names():
        raise ValueError(f"docs/catalog.md: loss-weight schedules {reg.names()} need summaries")
    head = ("scheduler_type (aliases)", "weight", "params (default)")
    return f"{text.LOSS_WEIGHT_INTRO}\n{table(head, rows)}\n{text.LOSS_WEIGHT_AFTER}"


def model_section() -> str:
    """Source functions and layer types of the architecture YAML."""
    sources = [
        (name_cell(d), d.summary, "yes" if CURRENT in d.needs else "no", jax_cell(d))
        for d in _ordered(SOURCE_CATALOG, groups.SOURCE_ORDER)
    ]
    layers = [
        (name_cell(d), d.summary, params_cell(d.params), "yes" if SOURCE in d.needs else "no",
         jax_cell(d))
        for d in _ordered(LAYER_CATALOG, groups.LAYER_ORDER)
    ]
    return (
        f"{text.MODEL_INTRO}\n"
        + table(("name", "g", "needs the current i", "JAX"), sources)
        + f"\n{text.LAYERS_INTRO}\n"
        + table(("layer_type", "dynamics", "params (default)", "source function", "JAX"), layers)
    )


SECTIONS: Tuple[Any, ...] = (
    pooling_section, losses_section, metrics_section, optimizers_section, lr_schedules_section,
)


def render() -> str:
    """The whole docs/catalog.md."""
    parts = [text.HEADER] + [s() for s in SECTIONS]
    parts += [loss_weight_section(), model_section(), text.FOOTER]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
