"""Random bad overrides thrown at the real CLI: every failure is one line `Error: ...`, exit 2,
never a traceback, and unknown catalog names are refused before any training starts."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from conftest import all_files, tiny
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soen_train.config.schema import SOENTrainConfig
from soen_train.config.validation import schema_keys

# Catalog-name keys of the pulses experiment, with the catalog the name is looked up in.
CATALOG_KEYS = [
    "model.time_pooling.name",
    "training.optimizer.name",
    "callbacks.lr_scheduler.type",
    "training.loss.losses.0.name",
    "model.architecture.layers.1.layer_type",
    "model.architecture.layers.1.params.source_func",
    "model.architecture.connections.0.connection_type",
    "training.paradigm",
    "training.mapping",
    "training.precision",
]
GROUPS = ["loss", "optimizer", "time_pooling", "lr_scheduler", "logger", "arch"]

# A name that is in no catalog: letters then a marker no catalog name contains.
junk_name = st.from_regex(r"[a-z][a-zA-Z_]{2,10}Q9", fullmatch=True)


def fresh_dir(root: Path) -> Path:
    """An empty working folder per example, sharing one generated dataset folder."""
    (root / "data").mkdir(exist_ok=True)
    n = len(list(root.glob("ex*")))
    here = root / f"ex{n}"
    here.mkdir()
    (here / "data").symlink_to(root / "data")
    return here


def _leaf_types() -> dict:
    """{dotted key: annotation} of every scalar int/float/bool key of the schema."""
    out = {}
    for key in schema_keys():
        cls, ann = SOENTrainConfig, None
        for part in key.split("."):
            ann = typing.get_type_hints(cls)[part]
            cls = ann
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        base = args[0] if typing.get_origin(ann) is typing.Union and len(args) == 1 else ann
        if base in (int, float, bool) and not dataclasses.is_dataclass(base):
            out[key] = base
    return out


LEAVES = _leaf_types()
NUMERIC = sorted(k for k, t in LEAVES.items() if t in (int, float))
BOOLS = sorted(k for k, t in LEAVES.items() if t is bool)


def _misspell(key: str, data: st.DataObject) -> str:
    """Drop, double or swap one character of the last component of a key."""
    head, _, leaf = key.rpartition(".")
    i = data.draw(st.integers(0, len(leaf) - 1))
    how = data.draw(st.sampled_from(["drop", "double", "upper"]))
    if how == "drop" and len(leaf) > 2:
        leaf = leaf[:i] + leaf[i + 1:]
    elif how == "double":
        leaf = leaf[:i] + leaf[i] + leaf[i:]
    else:
        leaf = leaf[:i] + leaf[i].upper() + leaf[i + 1:] if leaf[i].islower() else leaf + "x"
    return f"{head}.{leaf}" if head else leaf


@st.composite
def bad_override(draw: st.DrawFn) -> tuple:
    """(override, kind): a wrong type, an impossible value, a misspelt key or an unknown name."""
    kind = draw(st.sampled_from(["catalog", "group", "wrong_type", "bool", "negative", "misspelt"]))
    if kind == "catalog":
        return f"{draw(st.sampled_from(CATALOG_KEYS))}={draw(junk_name)}", kind
    if kind == "group":
        return f"{draw(st.sampled_from(GROUPS))}={draw(junk_name)}", kind
    if kind == "wrong_type":
        value = draw(st.sampled_from(["abc", "[1,2]", "{a: 1}", "1.5e", "none_of_these"]))
        return f"{draw(st.sampled_from(NUMERIC))}={value}", kind
    if kind == "bool":
        return f"{draw(st.sampled_from(BOOLS))}={draw(st.sampled_from(['maybe', 'yes please', '0.5']))}", kind
    if kind == "negative":
        key = draw(st.sampled_from([
            "training.max_epochs", "training.batch_size", "training.num_repeats", "training.lr",
            "training.accumulate_grad_batches", "logging.log_freq", "data.val_split", "data.test_split",
            "training.checkpoint_every_n_epochs", "model.dt", "training.gradient_clip_val",
        ]))
        return f"{key}={draw(st.sampled_from(['-1', '-0.5', '-1000']))}", kind
    key = draw(st.sampled_from(sorted(k for k in schema_keys() if k.count(".") == 1)))
    return f"{_misspell(key, draw(st.data()))}=1", kind


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=bad_override())
def test_random_bad_overrides_give_one_line_errors(cli_here, tmp_path, case):
    override, kind = case
    cli_here.root = fresh_dir(Path(tmp_path))
    res = cli_here(*tiny("debug=fast", "logger=tensorboard", "hydra.run.dir=job", override))
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert "Traceback" not in res.text, (override, res.text[-2000:])
    assert res.code == 2, (override, res.code, res.text[-2000:])
    assert len(lines) == 1 and lines[0].startswith("Error: "), (override, res.err)
    assert len(lines[0]) < 1200, lines[0]
    key, _, value = override.partition("=")
    if kind in ("catalog", "group"):
        assert value in lines[0], lines[0]
    if kind == "misspelt":
        assert "did you mean" in lines[0] or "unknown config key" in lines[0], lines[0]
    # refused before any training: no checkpoint or event file anywhere
    written = [p.name for p in all_files(cli_here.root)]
    assert not [n for n in written if n.endswith(".ckpt") or n.startswith("events.out")], written


def test_unknown_catalog_names_name_the_closest_match(cli_here):
    for override, expected in [
        ("model.time_pooling.name=maxx", "did you mean 'max'"),
        ("training.optimizer.name=adamz", "did you mean 'adam'"),
        ("callbacks.lr_scheduler.type=cosinex", "did you mean 'cosine'"),
        ("training.loss.losses.0.name=crossentropy", "did you mean 'cross_entropy'"),
        ("model.architecture.layers.1.params.source_func=Heaviside_fit", "Heaviside_fit_state_dep"),
        ("training.max_epochs=abc", "training.max_epochs"),
        ("loss=crossentropy", "cross_entropy"),
    ]:
        res = cli_here(*tiny("hydra.run.dir=job", override))
        assert res.code == 2 and res.err.startswith("Error: "), (override, res.text[-2000:])
        assert expected in res.err, (override, res.err)
