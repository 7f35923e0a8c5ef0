"""Which architectures the JAX simulator runs: one check, used early and by ``from_torch``.

``check_architecture(spec)`` raises ``JaxUnsupportedError`` naming the first layer,
connection or simulation setting the JAX simulator has no implementation of: an edge mode
other than fixed / WICC / NOCC, a layer type, solver or source function outside the JAX
catalogs, an evaluation method it does not run, or a forward pass that stops early. ``spec`` is the architecture dict in ``SOENModel.spec``
vocabulary (``architecture_to_dict``), so the runner can call it on the configured
architecture before any data is built, and ``JaxSOEN.from_torch`` on the model's.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import JaxUnsupportedError

#: Edge modes of connections the JAX network runs (``edges``), as the torch spec names them.
EDGE_MODES = ("fixed", "WICC", "NOCC")

#: Evaluation methods the JAX network runs.
METHODS = ("layerwise", "stepwise_gauss_seidel", "stepwise_jacobi")

#: Solvers the JAX layers run: FE, PS, and PARARNN (Newton iterations on the FE recurrence;
#: equal to FE to float32 rounding, so it runs as FE).
JAX_SOLVERS = {"FE": "FE", "PARARNN": "FE", "PS": "PS"}

TORCH_FIX = "use training.backend=torch"


def check_architecture(spec: Mapping[str, Any]) -> None:
    """Raise ``JaxUnsupportedError`` for the first part of ``spec`` JAX cannot simulate."""
    from soen_train.model.layers import LAYER_TYPES

    from .layers import JAX_LAYERS
    from .source_functions import jax_source_function

    sim = spec.get("simulation", {}) or {}
    method = str(sim.get("network_evaluation_method", "layerwise"))
    if method not in METHODS:
        raise JaxUnsupportedError(
            f"simulation.network_evaluation_method '{method}' has no JAX implementation; "
            f"supported: {', '.join(METHODS)}"
        )
    if sim.get("early_stopping_forward_pass"):
        raise JaxUnsupportedError(
            "simulation.early_stopping_forward_pass: a forward pass that stops at a steady "
            "state has a data-dependent length, which the JAX backend does not run; set it "
            f"to false or {TORCH_FIX}"
        )
    # Edge modes need no check: JAX runs every torch mode (fixed, WICC, NOCC, under any alias;
    # tests/jax/test_jax_refusals.py), and an invalid one is the torch spec check's error.
    for entry in spec.get("layers", []) or []:
        lid = entry.get("layer_id")
        layer_type = LAYER_TYPES.canonical(str(entry["layer_type"]))
        if layer_type not in JAX_LAYERS:
            raise JaxUnsupportedError(
                f"layer {lid}: layer type '{layer_type}' has no JAX implementation; supported: "
                f"{', '.join(JAX_LAYERS.names())}; {TORCH_FIX}"
            )
        params = entry.get("params") or {}
        solver = str(params.get("solver", "FE")).upper()
        if solver not in JAX_SOLVERS:
            raise JaxUnsupportedError(
                f"layer {lid} ({layer_type}): solver '{solver}' has no JAX implementation; "
                f"supported: {', '.join(JAX_SOLVERS)}; {TORCH_FIX}"
            )
        source = params.get("source_func")
        if source:
            jax_source_function(str(source))  # refuses a source function JAX lacks, by name


def configured_architecture(model_cfg: Any) -> Any:
    """The architecture dict a run's ``model`` section names, or None when it names none
    that can be read without building the model (a missing file fails later, with its key)."""
    from pathlib import Path

    from soen_train.model.architecture import architecture_to_dict, read_architecture

    base = getattr(model_cfg, "base_model_path", None)
    if base:
        path = Path(base).expanduser()
        if not path.is_file():
            return None
        if path.suffix == ".soen":
            from soen_train.model.network import SOENModel

            return SOENModel.load(path).spec
        return architecture_to_dict(read_architecture(path))
    if getattr(model_cfg, "architecture_yaml", None):
        path = Path(model_cfg.architecture_yaml).expanduser()
        return architecture_to_dict(read_architecture(path)) if path.is_file() else None
    if getattr(model_cfg, "architecture", None):
        return architecture_to_dict(read_architecture(dict(model_cfg.architecture)))
    return None
