"""The layer catalog, declared once: every layer type an architecture YAML can name.

params are the per-node physical parameters with their defaults (a YAML layer may override
them); ``needs`` ``source`` marks layers driven by a source function g(phi, i). The torch
layers (``soen_train.model.layers``; their ``PARAMS`` must equal the declaration) and the
JAX layers (``soen_train.jax.layers``; they must read every declared param) register here.
The names and aliases are the original toolkit's.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from soen_train.catalog.declaration import Catalog, CatalogMismatchError, Declaration, entry

#: A layer whose dynamics run through a source function (its ``source_func`` option).
SOURCE = "source"

#: gamma_plus / gamma_minus default of the loop layers (``model.physics.DEFAULT_LOOP_GAMMA``;
#: the torch registration checks that they agree).
DEFAULT_LOOP_GAMMA = 0.006582119569509066


def _torch_params(cls: Any) -> Dict[str, Any]:
    return {p.name: p.default for p in getattr(cls, "PARAMS", ())}


def _torch_needs_source(cls: Any) -> bool:
    return any(getattr(o, "kind", None) == "source" for o in getattr(cls, "OPTIONS", ()))


def _check_layer(decl: Declaration, impl: Any, backend: str) -> None:
    """Source use must match; a JAX layer must read every declared param."""
    declared = SOURCE in decl.needs
    uses = _torch_needs_source(impl) if backend == "torch" else bool(impl.needs_source)
    if uses != declared:
        raise CatalogMismatchError(
            f"{backend} layer type '{decl.name}': uses a source function = {uses}, the "
            f"declaration says {declared}"
        )
    if backend == "jax":
        read = {n for role in impl.ROLES for n in role.torch_names}
        unread = [p for p in decl.params if p not in read]
        if unread:
            raise CatalogMismatchError(
                f"jax layer type '{decl.name}' reads no role for the declared params {unread}"
            )


def _no_signature(impl: Any) -> Optional[Dict[str, Any]]:
    return None


#: Every layer type (``layers[].layer_type`` in an architecture YAML).
LAYER_CATALOG = Catalog(
    "layer type",
    [
        entry("Input", "Linear", summary="state = received flux; no parameters, no memory"),
        entry(
            "SingleDendrite",
            params={
                "phi_offset": 0.23, "bias_current": 1.7, "gamma_plus": DEFAULT_LOOP_GAMMA,
                "gamma_minus": 0.001,
            },
            needs={SOURCE},
            summary="ds/dt = gamma_plus g(phi + phi_offset, bias_current − s) − gamma_minus s",
        ),
        entry(
            "MultiplierWICC", "Multiplier",
            params={
                "phi_y": 0.1, "bias_current": 2.0, "gamma_plus": DEFAULT_LOOP_GAMMA,
                "gamma_minus": DEFAULT_LOOP_GAMMA,
            },
            needs={SOURCE},
            summary=(
                "multiplier with a collection coil: ds/dt = gamma_plus (g(phi + phi_y, ib − s) "
                "− g(phi − phi_y, ib + s)) − gamma_minus s"
            ),
        ),
        entry(
            "MultiplierNOCC",
            params={
                "phi_y": 0.1, "bias_current": 2.1, "alpha": 1.64053, "beta": 303.85,
                "beta_out": 91.156,
            },
            needs={SOURCE},
            summary="multiplier without a collection coil: output m plus branch states s1, s2",
        ),
        entry(
            "DendriteReadout", "Readout",
            params={"phi_offset": 0.0, "bias_current": 1.7},
            needs={SOURCE},
            summary="memoryless read-out: the rate g(phi + phi_offset, bias_current)",
        ),
        entry(
            "ScalingLayer", params={"scale_factor": 1.0}, summary="s_t = scale_factor · phi_t"
        ),
        entry(
            "NonLinear",
            params={"phi_offset": 0.0, "bias_current": 1.7},
            needs={SOURCE},
            summary="memoryless non-linearity s_t = g(phi_t + phi_offset) (default Tanh)",
        ),
        entry(
            "Softmax", params={"beta": 1.0},
            summary="softmax over the nodes with per-node inverse temperature beta",
        ),
        entry("RNN", summary="Elman cell with tanh"),
        entry("GRU", summary="PyTorch GRU cell (gate rows r, z, n)"),
        entry("LSTM", summary="PyTorch LSTM cell; the cell state c restarts at 0 each forward"),
        entry("MinGRU", summary="minimal GRU with full input projections"),
        entry(
            "LeakyGRU", "leakyGRU",
            params={"decay_bias": 4.0, "candidate_bias": 0.0},
            summary=(
                "masked GRU: fixed reset gate, per-node leak, candidate from phi and the hidden "
                "state"
            ),
        ),
    ],
    read_params={"torch": _torch_params, "jax": _no_signature},
    check_impl=_check_layer,
    needs_vocabulary={SOURCE},
)
