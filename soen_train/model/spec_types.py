"""Validated, normalised architecture description (what a YAML becomes after parsing).

These plain dataclasses are the single source of truth for building a model and for
writing its spec back out (``SOENModel.spec``, the JSON inside a ``.soen`` file). They hold
only plain Python values, never tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Noise keys every layer understands (``extras`` covers other parameter names).
CORE_NOISE_KEYS: tuple[str, ...] = ("phi", "g", "s", "bias_current", "j")

#: Network evaluation methods and the spellings accepted for them.
EVALUATION_METHODS: dict[str, str] = {
    "layerwise": "layerwise",
    "layer": "layerwise",
    "layer_sequence": "layerwise",
    "stepwise_gauss_seidel": "stepwise_gauss_seidel",
    "stepwise_gs": "stepwise_gauss_seidel",
    "gauss_seidel": "stepwise_gauss_seidel",
    "stepwise_jacobi": "stepwise_jacobi",
    "jacobi": "stepwise_jacobi",
}

INPUT_TYPES: tuple[str, ...] = ("state", "flux")


@dataclass
class NoiseSpec:
    """Fresh Gaussian noise added at every time step (std per key; 0 = off)."""

    phi: float = 0.0
    g: float = 0.0
    s: float = 0.0
    bias_current: float = 0.0
    j: float = 0.0
    relative: bool = False
    extras: dict[str, float] = field(default_factory=dict)

    def std(self, key: str) -> float:
        """Standard deviation configured for ``key`` (core key or parameter name)."""
        if key in CORE_NOISE_KEYS:
            return float(getattr(self, key))
        return float(self.extras.get(key, 0.0))

    def set_std(self, key: str, value: float) -> None:
        """Set the std of ``key`` (core keys are fields; others live in ``extras``)."""
        if key in CORE_NOISE_KEYS:
            setattr(self, key, float(value))
        else:
            self.extras[key] = float(value)

    def is_active(self) -> bool:
        """True when any std is non-zero."""
        return any(self.std(k) != 0.0 for k in CORE_NOISE_KEYS) or any(
            v != 0.0 for v in self.extras.values()
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML vocabulary."""
        return {
            "phi": self.phi, "g": self.g, "s": self.s, "bias_current": self.bias_current,
            "j": self.j, "relative": self.relative, "extras": dict(self.extras),
        }


@dataclass
class PerturbSpec:
    """A Gaussian offset (mean, std) drawn once per forward pass and held over time."""

    means: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)

    def mean(self, key: str) -> float:
        """Offset mean for ``key``."""
        return float(self.means.get(key, 0.0))

    def std(self, key: str) -> float:
        """Offset spread for ``key``."""
        return float(self.stds.get(key, 0.0))

    def is_active(self) -> bool:
        """True when any mean or std is non-zero."""
        return any(v != 0.0 for v in self.means.values()) or any(v != 0.0 for v in self.stds.values())

    def active_keys(self) -> list[str]:
        """Keys with a non-zero mean or std."""
        return sorted({k for k, v in self.means.items() if v != 0.0}
                      | {k for k, v in self.stds.items() if v != 0.0})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML vocabulary (``<key>_mean``/``<key>_std`` + extras)."""
        out: dict[str, Any] = {}
        for key in CORE_NOISE_KEYS:
            out[f"{key}_mean"] = self.mean(key)
            out[f"{key}_std"] = self.std(key)
        out["extras_mean"] = {k: v for k, v in self.means.items() if k not in CORE_NOISE_KEYS}
        out["extras_std"] = {k: v for k, v in self.stds.items() if k not in CORE_NOISE_KEYS}
        return out


@dataclass
class SimulationSpec:
    """Global simulation settings (the ``simulation`` block)."""

    dt: float = 37.0
    dt_learnable: bool = False
    input_type: str = "state"
    track_phi: bool = False
    track_g: bool = False
    track_s: bool = False
    track_power: bool = False
    network_evaluation_method: str = "layerwise"
    early_stopping_forward_pass: bool = False
    early_stopping_tolerance: float = 1e-6
    early_stopping_patience: int = 1
    early_stopping_min_steps: int = 1
    steady_window_min: int = 50
    steady_tol_abs: float = 1e-5
    steady_tol_rel: float = 1e-3

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML vocabulary."""
        return dict(self.__dict__)


@dataclass
class ParamInit:
    """How one per-node layer parameter starts and how it may change."""

    distribution: str
    params: dict[str, Any]  # distribution parameters (numbers; fan_out may hold node_fan_outs)
    learnable: bool
    minimum: float | None
    maximum: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict: ``{distribution, params, learnable, constraints?}``."""
        out: dict[str, Any] = {
            "distribution": self.distribution, "params": dict(self.params), "learnable": self.learnable,
        }
        if self.minimum is not None or self.maximum is not None:
            out["constraints"] = {"min": self.minimum, "max": self.maximum}
        return out


@dataclass
class PolaritySpec:
    """Sign restriction of a layer's outgoing weights: +1 excitatory, -1 inhibitory, 0 free."""

    signs: list[int]
    source: dict[str, Any]  # how it was specified (for writing the spec back)


@dataclass
class LayerSpec:
    """One validated layer."""

    layer_id: int
    layer_type: str
    dim: int
    params: dict[str, ParamInit]
    options: dict[str, Any]
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    perturb: PerturbSpec = field(default_factory=PerturbSpec)
    polarity: PolaritySpec | None = None
    description: str = ""
    model_id: int = 0
    #: Names of the per-node parameters the architecture gives explicitly, in its order
    #: (the original draws them in this order; unnamed ones keep the layer's default).
    param_order: list[str] = field(default_factory=list)


@dataclass
class ConnectionSpec:
    """One validated connection (``from_layer == to_layer`` is a layer's internal one)."""

    from_layer: int
    to_layer: int
    pattern: str
    pattern_params: dict[str, Any]
    init: str
    init_params: dict[str, Any]
    learnable: bool = True
    allow_self_connections: bool = True
    minimum: float | None = None
    maximum: float | None = None
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    perturb: PerturbSpec = field(default_factory=PerturbSpec)
    description: str = ""
    visualization_metadata: dict[str, Any] | None = None
    #: Edge mode: "fixed", "WICC" or "NOCC" (see ``dynamic_edges``), after alias resolution.
    mode: str = "fixed"
    #: The edge parameter block as given (defaults are filled in by ``dynamic_edges``).
    connection_params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_dynamic(self) -> bool:
        """True for a WICC or NOCC connection (a circuit with its own states on each edge)."""
        return self.mode != "fixed"

    @property
    def name(self) -> str:
        """Connection name ``<from>_to_<to>``."""
        return f"{self.from_layer}_to_{self.to_layer}"


@dataclass
class ArchitectureSpec:
    """A whole validated architecture."""

    simulation: SimulationSpec
    layers: list[LayerSpec]
    connections: list[ConnectionSpec]
    seed: int | None = None
    description: str = ""

    def layer(self, layer_id: int) -> LayerSpec:
        """The layer with id ``layer_id``."""
        for spec in self.layers:
            if spec.layer_id == layer_id:
                return spec
        raise KeyError(f"no layer {layer_id}; layers are {[s.layer_id for s in self.layers]}")
