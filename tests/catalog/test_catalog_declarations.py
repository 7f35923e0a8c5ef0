"""Each catalog entry is declared once; a backend whose implementation differs from the
declaration, or that lacks a declared entry without a declared reason, fails at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from soen_train.catalog.declaration import Catalog, CatalogMismatchError, entry

ROOT = Path(__file__).resolve().parents[2]
DECLARATION_MODULES = [
    "soen_train.catalog.declaration",
    "soen_train.catalog.losses",
    "soen_train.catalog.loss_terms",
    "soen_train.catalog.time_pooling",
    "soen_train.catalog.metrics",
    "soen_train.catalog.optimizers",
    "soen_train.catalog.source_functions",
    "soen_train.catalog.layers",
    "soen_train.catalog.codebooks",
    "soen_train.catalog.connection_selection",
]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=600,
    )


def _toy() -> Catalog:
    return Catalog(
        "toy",
        [entry("f", "f_alias", params={"a": 1, "b": None}), entry("g", no_jax="not ported: toy")],
    )


def test_the_declarations_import_neither_torch_nor_jax():
    imports = "; ".join(f"import {m}" for m in DECLARATION_MODULES)
    done = _run(f"import sys; {imports}; print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_matching_implementation_registers_under_the_declared_aliases():
    cat = _toy()

    @cat.torch("f")
    def f(x, a=1, b=None):
        return x + a

    assert cat.registry("torch").get("f_alias") is f
    assert cat.registry("torch").get("f")(2) == 3


def test_a_default_that_differs_is_refused_at_registration():
    cat = _toy()
    with pytest.raises(CatalogMismatchError, match=r"defaults differ.*a = 2, declared 1"):
        cat.jax("f")(lambda x, a=2, b=None: x)
    with pytest.raises(CatalogMismatchError, match=r"b = 0, declared None"):
        cat.jax("f")(lambda x, a=1, b=0: x)


def test_a_param_name_that_differs_is_refused_at_registration():
    cat = _toy()
    with pytest.raises(CatalogMismatchError, match=r"not declared: \['c'\]; declared but not accepted: \['b'\]"):
        cat.torch("f")(lambda x, a=1, c=None: x)


def test_an_undeclared_name_or_an_alias_is_refused():
    cat = _toy()
    with pytest.raises(CatalogMismatchError, match="'h' is not a declared name"):
        cat.torch("h")
    with pytest.raises(CatalogMismatchError, match="'f_alias' is not a declared name"):
        cat.torch("f_alias")


def test_a_declared_entry_without_a_twin_fails_the_completeness_check():
    cat = _toy()
    cat.torch("f")(lambda x, a=1, b=None: x)
    with pytest.raises(CatalogMismatchError, match=r"torch backend: toy entries \['g'\]"):
        cat.check_complete("torch")
    cat.jax("f")(lambda x, a=1, b=None: x)
    cat.check_complete("jax")  # 'g' is declared missing in jax, with its reason
    assert cat.missing_reason("jax", "g") == "not ported: toy"
    assert cat.missing_reason("jax", "f") is None


def test_an_implementation_of_an_entry_declared_missing_is_refused():
    with pytest.raises(CatalogMismatchError, match="declared missing in jax"):
        _toy().jax("g")


def test_named_params_must_be_declared_ones():
    cat = _toy()
    with pytest.raises(CatalogMismatchError, match=r"params \['z'\] are not declared"):
        cat.jax("f", params=("a", "z"))(lambda options: None)
    assert cat.jax("f", params=("a",))(len) is len


def test_unknown_needs_are_refused_when_declared():
    with pytest.raises(CatalogMismatchError, match="declares unknown needs"):
        Catalog("toy", [entry("f", needs={"wings"})], needs_vocabulary={"targets"})


@pytest.mark.parametrize(
    "patch, backend_module, message",
    [
        ("params={'min_weight': 0.3}", "soen_train.training.time_pooling", "min_weight = 0.2, declared 0.3"),
        ("params={'min_weight': 0.3}", "soen_train.jax.pooling", "min_weight = 0.2, declared 0.3"),
        ("params={'m': 0.2}", "soen_train.jax.pooling", "not declared: ['min_weight']"),
    ],
)
def test_a_backend_whose_function_differs_from_its_declaration_fails_at_import(
    patch, backend_module, message
):
    done = _run(
        "import dataclasses\n"
        "from soen_train.catalog.time_pooling import POOLING_CATALOG as C\n"
        "d = C._declarations._entries['ewa']\n"
        f"C._declarations._entries['ewa'] = dataclasses.replace(d, {patch})\n"
        f"import {backend_module}\n"
    )
    assert done.returncode != 0
    assert "CatalogMismatchError" in done.stderr and message in done.stderr


@pytest.mark.parametrize("backend_module", ["soen_train.training.time_pooling", "soen_train.jax.pooling"])
def test_a_backend_without_a_declared_entry_fails_at_import(backend_module):
    done = _run(
        "from soen_train.catalog.declaration import entry\n"
        "from soen_train.catalog.time_pooling import POOLING_CATALOG as C\n"
        "C._declarations.register('median')(entry('median'))\n"
        f"import {backend_module}\n"
    )
    assert done.returncode != 0
    assert "time pooling entries ['median'] are declared" in done.stderr


def test_the_real_catalogs_load_in_both_backends():
    from soen_train.catalog.layers import LAYER_CATALOG
    from soen_train.catalog.losses import LOSS_CATALOG
    from soen_train.catalog.metrics import METRIC_CATALOG
    from soen_train.catalog.optimizers import OPTIMIZER_CATALOG
    from soen_train.catalog.source_functions import SOURCE_CATALOG
    from soen_train.catalog.time_pooling import POOLING_CATALOG
    from soen_train.jax import layers, losses, optimizers, pooling, source_functions  # noqa: F401
    from soen_train.model import layers as torch_layers  # noqa: F401
    from soen_train.training import losses as torch_losses  # noqa: F401
    from soen_train.training import metrics, time_pooling  # noqa: F401
    from soen_train.training import optimizers as torch_optimizers  # noqa: F401

    catalogs = [
        LOSS_CATALOG, POOLING_CATALOG, METRIC_CATALOG, OPTIMIZER_CATALOG, SOURCE_CATALOG,
        LAYER_CATALOG,
    ]
    for cat in catalogs:
        for backend in cat.backends:
            cat.check_complete(backend)
            have = cat.registry(backend).names()
            missing = [d.name for d in cat.declarations() if backend in d.missing]
            assert sorted(have + missing) == cat.names(), (cat.kind, backend)
    assert sorted(d.name for d in LOSS_CATALOG.declarations() if "jax" in d.missing) == [
        "branching_loss", "ensure_post_sample_decay", "local_expansion_loss", "rich_margin_loss",
    ]
    assert LOSS_CATALOG.registry("jax").canonical("reg_j_loss") == "reg_J_loss"


def test_the_jax_refusal_gives_the_declared_reason():
    from soen_train.catalog.losses import LOSS_CATALOG
    from soen_train.jax.errors import JaxUnsupportedError
    from soen_train.jax.losses import JaxWeightedLoss

    reason = LOSS_CATALOG.missing_reason("jax", "branching_loss")
    with pytest.raises(JaxUnsupportedError) as err:
        JaxWeightedLoss([{"name": "cross_entropy"}, {"name": "branching_loss"}])
    assert "training.loss.losses[1]: loss 'branching_loss' has no JAX implementation" in str(err.value)
    assert f"({reason})" in str(err.value)


CATALOG_JAX_MODULES = [
    "losses", "pooling", "optimizers", "source_functions", "layers", "layer_base",
    "stateless_layers", "recurrent_layers",
]


@pytest.mark.parametrize("name", CATALOG_JAX_MODULES)
def test_the_jax_catalog_modules_do_not_import_the_torch_training_package(name):
    tree = ast.parse((ROOT / "soen_train" / "jax" / f"{name}.py").read_text())
    imported = [
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in (n.names if isinstance(n, ast.Import) else [n])
    ]
    assert not [m for m in imported if m and m.startswith("soen_train.training")]
