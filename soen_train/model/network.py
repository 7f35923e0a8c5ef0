"""``SOENModel``: a SOEN network built from an architecture, with its run-time controls.

    model = SOENModel.from_yaml("pulse_net.yaml", seed=1)
    y = model(x)                        # x [B, T, D_in] -> last layer history [B, T+1, D_out]
    r = model.simulate(x, track_g=True) # every layer's history (+ phi / g when tracked)

Layers live in ``model.layers['<id>']`` and connections in ``model.connections['<a>_to_<b>']``.
All random initialisation draws from one ``torch.Generator`` seeded with ``seed`` in the
original toolkit's order (connections in file order: mask then weights; then layers in id
order), so a seed gives the same tensors as the original with that seed, bit for bit.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from soen_train.registry import closest

from .architecture import ArchitectureSource, architecture_to_dict, read_architecture
from .connections import Connection
from .distributions import fill_fan_outs
from .evaluation import ForwardPlan, evaluate, switch_feedback_to_stepwise
from .layers import LAYER_TYPES, InternalWeight, LayerRunContext, SOENLayer
from .noise import NoiseRuntime, weight_offset
from .original_import import import_original_model
from .result import SimulationResult, StateKey, split_state_key
from .soen_file import load_model, save_model
from .spec_types import CORE_NOISE_KEYS, ArchitectureSpec
from .validation import ArchitectureError, as_float

PathLike = str | Path
NOISE_TARGETS = ("noise", "perturb")
#: Layer types that integrate a dynamic (WICC/NOCC) internal connection (as in the original).
DYNAMIC_INTERNAL_LAYERS = ("SingleDendrite", "MultiplierWICC", "MultiplierNOCC")


class SOENModel(nn.Module):
    """A simulated SOEN network (plain PyTorch module)."""

    def __init__(self, architecture: ArchitectureSpec, *, seed: int | None = None,
                 materialize: bool = True) -> None:
        super().__init__()
        self._arch = copy.deepcopy(architecture)
        self._arch.seed = seed if seed is not None else self._arch.seed
        switch_feedback_to_stepwise(self._arch.simulation, self._arch.connections)  # hand-built specs
        first = self._arch.layers[0]
        if self._arch.simulation.input_type == "state" and first.layer_type != "Input":
            warnings.warn(
                f"input_type is 'state', so the states of the first layer (id {first.layer_id}, "
                f"{first.layer_type}) are the input values and its dynamics are not simulated; "
                "use an Input first layer, or input_type: flux to drive it",
                UserWarning, stacklevel=3)
        generator = None
        if materialize and self._arch.seed is not None:
            generator = torch.Generator().manual_seed(int(self._arch.seed))
        sim = self._arch.simulation
        if sim.dt_learnable:
            self.dt_parameter = nn.Parameter(torch.tensor(float(sim.dt)))
        internal_ids = {c.from_layer for c in self._arch.connections if c.from_layer == c.to_layer}
        self.layers = nn.ModuleDict()  # registered first (module order), filled after connections
        # The original's draw order: connections in file order (mask, then weights), then
        # layers in id order; with the same seed the tensors come out bit-identical.
        dims = {spec.layer_id: spec.dim for spec in self._arch.layers}
        polarity = {spec.layer_id: spec.polarity.signs for spec in self._arch.layers if spec.polarity}
        self.connections = nn.ModuleDict()
        for spec in self._arch.connections:
            try:
                self.connections[spec.name] = Connection(
                    spec, dims[spec.from_layer], dims[spec.to_layer], generator=generator,
                    materialize=materialize, source_polarity=polarity.get(spec.from_layer))
            except ArchitectureError as exc:  # pattern / init values: say which connection
                where = f"connection {spec.from_layer}->{spec.to_layer}"
                if str(exc).startswith(where):
                    raise
                raise ArchitectureError(f"{where}: {exc}") from None
        if materialize:  # fan_out parameter distributions count the outgoing mask entries
            fill_fan_outs(self._arch, {(c.spec.from_layer, c.spec.to_layer): c.mask
                                       for c in self.connections.values()})
        for spec in self._arch.layers:
            cls = LAYER_TYPES.get(spec.layer_type)
            self.layers[str(spec.layer_id)] = cls(
                spec, generator=generator, materialize=materialize,
                has_internal=spec.layer_id in internal_ids, dt=float(sim.dt))
        self._check_dynamic_internal()

    def _check_dynamic_internal(self) -> None:
        """A dynamic (WICC/NOCC) internal connection needs a layer that integrates it step by step."""
        for conn in self._arch.connections:
            if conn.is_dynamic and conn.from_layer == conn.to_layer:
                layer = self.layers[str(conn.from_layer)]
                if not layer.has_internal:  # a memoryless layer ignores its internal connection
                    continue
                if layer.layer_type not in DYNAMIC_INTERNAL_LAYERS:
                    raise ArchitectureError(
                        f"connection {conn.from_layer}->{conn.to_layer}: a {conn.mode} internal "
                        f"connection needs a layer of type {', '.join(DYNAMIC_INTERNAL_LAYERS)}; "
                        f"layer {conn.from_layer} is {layer.layer_type} (use mode: fixed)")
                if layer.solver != "FE":
                    raise ArchitectureError(
                        f"connection {conn.from_layer}->{conn.to_layer}: a {conn.mode} internal "
                        f"connection is integrated by the FE solver only; layer {conn.from_layer} "
                        f"uses solver {layer.solver}")

    # ------------------------------------------------------------------------------------
    # Construction and files
    # ------------------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, source: ArchitectureSource, seed: int | None = None) -> SOENModel:
        """Build from an architecture YAML (path) or the equivalent dict.

        ``seed`` controls every random initialisation; when given, a seed stored in the
        YAML is ignored. Without any seed the global torch RNG is used.
        """
        return cls(read_architecture(source), seed=seed)

    def save(self, path: PathLike) -> Path:
        """Write this model to a safe ``.soen`` file (safetensors + JSON spec)."""
        return save_model(self, path)

    @classmethod
    def load(cls, path: PathLike) -> SOENModel:
        """Read a ``.soen`` written by ``save`` (never executes code from the file)."""
        return load_model(path, cls)

    @classmethod
    def import_original(cls, path: PathLike) -> SOENModel:
        """Import the original toolkit's torch-pickled ``.soen`` through a restricted unpickler."""
        return import_original_model(path, cls)

    # ------------------------------------------------------------------------------------
    # Description
    # ------------------------------------------------------------------------------------
    @property
    def architecture(self) -> ArchitectureSpec:
        """The validated architecture this model was built from (live: reflects set_*)."""
        self._arch.simulation.dt = self.dt
        return self._arch

    @property
    def spec(self) -> dict[str, Any]:
        """Plain dict of the architecture (YAML-compatible), enough to rebuild the model."""
        return architecture_to_dict(self.architecture)

    @property
    def layer_ids(self) -> list[int]:
        """Layer ids in evaluation order (ascending)."""
        return [spec.layer_id for spec in self._arch.layers]

    @property
    def input_dim(self) -> int:
        """Width of the input sequence (the first layer's dim)."""
        return self._arch.layers[0].dim

    @property
    def output_dim(self) -> int:
        """Width of the output (the last layer's dim)."""
        return self._arch.layers[-1].dim

    @property
    def dt(self) -> float:
        """Simulation step, dimensionless (units of 1/omega_c)."""
        if self._arch.simulation.dt_learnable:
            return float(self.dt_parameter.detach())
        return float(self._arch.simulation.dt)

    def set_dt(self, dt: float) -> None:
        """Change the simulation step (dimensionless, > 0) for all layers."""
        value = as_float(dt, "dt")
        if value <= 0:
            raise ValueError(f"dt must be > 0, got {value}")
        self._arch.simulation.dt = value
        if self._arch.simulation.dt_learnable:
            with torch.no_grad():
                self.dt_parameter.fill_(value)

    def layer(self, layer_id: int) -> SOENLayer:
        """The layer module with id ``layer_id``."""
        key = str(layer_id)
        if key not in self.layers:
            raise KeyError(f"no layer {layer_id}; layers are {self.layer_ids}")
        return self.layers[key]

    def connection(self, name: str) -> Connection:
        """The connection '<from>_to_<to>' (the original's 'J_<from>_to_<to>' also works)."""
        key = name.removeprefix("J_")
        if key not in self.connections:
            hint = closest(key, list(self.connections))
            msg = f"no connection '{name}'"
            if hint:
                msg += f" (did you mean '{hint}'?)"
            raise KeyError(msg + f"; connections are {sorted(self.connections)}")
        return self.connections[key]

    def noise_keys(self, layer_id: int) -> list[str]:
        """Keys ``set_noise`` accepts for layer ``layer_id``."""
        return self.layer(layer_id).noise_keys()

    # ------------------------------------------------------------------------------------
    # Parameters and constraints
    # ------------------------------------------------------------------------------------
    def parameters_by_name(self) -> dict[str, nn.Parameter]:
        """{'layers.<id>.<param>': Parameter, 'connections.<from>_to_<to>': Parameter}.

        Every layer parameter (per-node ones and the weight matrices of the cell layers, e.g.
        'layers.1.module.weight_ih_l0') and every connection weight (learnable or not: see
        ``requires_grad``); plus 'dt' when dt is learnable. Connection values are the raw
        weights; the simulator multiplies them by the mask.
        """
        out: dict[str, nn.Parameter] = {}
        for lid in self.layer_ids:
            layer = self.layers[str(lid)]
            for name in layer.param_names():
                out[f"layers.{lid}.{name}"] = getattr(layer, name)
            for name, param in layer.named_parameters():
                out.setdefault(f"layers.{lid}.{name}", param)
        for name, conn in self.connections.items():
            out[f"connections.{name}"] = conn.weight
        if self._arch.simulation.dt_learnable:
            out["dt"] = self.dt_parameter
        return out

    def connection_weights(self, learnable_only: bool = True) -> dict[str, Tensor]:
        """{'<from>_to_<to>': weight * mask}; gradients flow to the weights."""
        return {
            name: conn.masked_weight()
            for name, conn in self.connections.items()
            if conn.spec.learnable or not learnable_only
        }

    @torch.no_grad()
    def enforce_constraints(self) -> None:
        """Clamp parameters and weights to their constraints and re-apply masks (in place)."""
        for layer in self.layers.values():
            layer.enforce_constraints()
        for conn in self.connections.values():
            conn.enforce_constraints()
        if self._arch.simulation.dt_learnable:
            self.dt_parameter.clamp_(min=1e-9)

    # ------------------------------------------------------------------------------------
    # Noise, perturbation and weight transforms
    # ------------------------------------------------------------------------------------
    def set_noise(self, target: str, key: str, value: float,
                  layer_ids: Iterable[int] | None = None,
                  relative: bool | None = None) -> list[int]:
        """Set a noise std (``target='noise'``) or perturbation std (``'perturb'``) by name.

        ``key`` is a core noise key (phi, g, s, bias_current, j) or a layer parameter name.
        Without ``layer_ids`` every layer that supports the key is changed. Returns the ids
        changed. Acts only while the model is training.

        Args:
            target: ``'noise'`` (fresh per step) or ``'perturb'`` (fixed per forward pass).
            key: core noise key or layer parameter name.
            value: the std, in the units of the quantity (Phi0 for phi, Ic for currents).
            layer_ids: the layers to change (None: every layer that supports ``key``).
            relative: set the layers' noise ``relative`` flag too (std as a fraction of the
                value; only for target 'noise'); None leaves it.
        """
        if target not in NOISE_TARGETS:
            raise ValueError(f"unknown noise target '{target}'; valid targets: {list(NOISE_TARGETS)}")
        std = as_float(value, f"{target}.{key}", minimum=0.0)
        if relative and target == "perturb":
            raise ValueError("relative=True is only available for target 'noise'")
        explicit = layer_ids is not None
        ids = [int(i) for i in layer_ids] if explicit else self.layer_ids
        chosen = []
        for lid in ids:
            keys = self.layer(lid).noise_keys()
            if key in keys:
                chosen.append(lid)
            elif explicit:
                raise ValueError(
                    f"layer {lid} ({self.layer(lid).layer_type}) has no noise key '{key}'; "
                    f"valid keys: {keys}"
                )
        if not chosen:
            valid = sorted({k for lid in ids for k in self.layer(lid).noise_keys()})
            hint = closest(key, valid)
            msg = f"no layer supports noise key '{key}'"
            if hint:
                msg += f" (did you mean '{hint}'?)"
            raise ValueError(msg + f"; valid keys: {valid}")
        for lid in chosen:
            spec = self.layer(lid).spec
            if target == "noise":
                spec.noise.set_std(key, std)
                if relative is not None:
                    spec.noise.relative = bool(relative)
            else:
                spec.perturb.stds[key] = std
        return chosen

    def set_connection_noise(self, name: str, std: float, relative: bool = False) -> None:
        """Gaussian noise on J of connection ``name``, one draw per forward (training only).

        With ``relative`` the std is ``std * mean|J|`` over the existing entries. This run-time
        setting is not stored in the spec or in ``.soen`` files.
        """
        conn = self.connection(name)
        conn.extra_noise_std = as_float(std, f"connection noise of {name}", minimum=0.0)
        conn.extra_noise_relative = bool(relative)

    def set_weight_transform(self, fn: Callable[[Tensor], Tensor] | None,
                             connections: Iterable[str] | None = None) -> None:
        """Apply ``fn`` to J in every forward (e.g. a straight-through quantiser); None clears.

        ``connections`` defaults to every learnable connection.
        """
        if connections is None:
            targets = [c for c in self.connections.values() if c.spec.learnable]
        else:
            targets = [self.connection(name) for name in connections]
        for conn in targets:
            conn.transform = fn

    # ------------------------------------------------------------------------------------
    # Simulation
    # ------------------------------------------------------------------------------------
    def _placement_sources(self) -> tuple[tuple[nn.Module, str] | None, tuple[nn.Module, str] | None]:
        """Where the dtype and device of a forward come from: (module, attribute) of the first
        parameter (else floating buffer) and of the first buffer (else parameter).

        Found once (the module tree does not change after construction) and read anew each
        call, so ``.to()``, ``.double()`` and ``load_state_dict(assign=True)`` are followed
        without walking every submodule per forward."""
        if getattr(self, "_placement_cache", None) is None:
            params = [(m, n) for m in self.modules() for n in m._parameters if m._parameters[n] is not None]
            buffers = [(m, n) for m in self.modules() for n in m._buffers if m._buffers[n] is not None]
            floating = [(m, n) for m, n in buffers if m._buffers[n].is_floating_point()]
            self._placement_cache = ((params or floating or [None])[0], (buffers or params or [None])[0])
        return self._placement_cache

    def _dtype(self) -> torch.dtype:
        source = self._placement_sources()[0]
        return torch.float32 if source is None else getattr(*source).dtype

    def _device(self) -> torch.device:
        source = self._placement_sources()[1]
        return torch.device("cpu") if source is None else getattr(*source).device

    def _check_input(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"input must be a torch.Tensor [batch, steps, {self.input_dim}], got {type(x).__name__}")
        if x.dim() != 3:
            raise ValueError(f"input must be [batch, steps, {self.input_dim}], got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_dim:
            raise ValueError(
                f"input has {x.shape[-1]} features but the first layer (id {self.layer_ids[0]}) has "
                f"dim {self.input_dim}; expected [batch, steps, {self.input_dim}]"
            )
        if x.shape[1] < 1:
            raise ValueError("input must have at least one time step")
        return x.to(device=self._device(), dtype=self._dtype())

    def _parse_state_key(self, key: Any) -> tuple[int, str]:
        lid, name = split_state_key(key)
        layer = self.layer(lid)
        valid = ("s",) + layer.AUX_STATES
        if name not in valid:
            raise KeyError(f"initial_states key {key!r}: layer {lid} has states {list(valid)}")
        return lid, str(name)

    def _initial_states(self, given: Mapping[Any, Any] | None, batch: int, ref: Tensor
                        ) -> dict[int, dict[str, Tensor]]:
        supplied: dict[int, dict[str, Tensor]] = {lid: {} for lid in self.layer_ids}
        for key, value in (given or {}).items():
            lid, name = self._parse_state_key(key)
            dim = self.layer(lid).dim
            tensor = torch.as_tensor(value).to(device=ref.device, dtype=ref.dtype)
            if tensor.dim() == 1 and tensor.shape[0] == dim:
                tensor = tensor.unsqueeze(0).expand(batch, dim)
            elif tensor.shape != (batch, dim):
                raise ValueError(
                    f"initial state {key!r} has shape {tuple(tensor.shape)}; expected "
                    f"[{batch}, {dim}] or [{dim}]"
                )
            supplied[lid][name] = tensor
        states = {}
        for lid in self.layer_ids:
            layer = self.layers[str(lid)]
            s0 = supplied[lid].pop("s", None)
            if s0 is None:
                s0 = ref.new_zeros(batch, layer.dim)
            states[lid] = layer.initial_state(s0, supplied[lid])
        return states

    def _dt_constant(self, ref: Tensor) -> Tensor:
        """The fixed step as a 0-dim tensor of ``ref``'s dtype and device, made once per
        (dt, dtype, device) rather than per forward (nothing writes into it). Made outside
        inference mode, so a validation pass under ``torch.inference_mode`` never leaves an
        inference tensor that a later training step would have to save for backward."""
        key = (self._arch.simulation.dt, ref.dtype, ref.device)
        cached = getattr(self, "_dt_cache", None)
        if cached is None or cached[0] != key:
            with torch.inference_mode(False):
                cached = (key, torch.tensor(key[0], dtype=ref.dtype, device=ref.device))
            self._dt_cache = cached
        return cached[1]

    def _plan(self, x: Tensor, initial_states: Mapping[Any, Any] | None, track_phi: bool,
              track_g: bool) -> ForwardPlan:
        batch, steps = int(x.shape[0]), int(x.shape[1])
        sim = self._arch.simulation
        training = bool(self.training)
        dt = self.dt_parameter.to(x.dtype) if sim.dt_learnable else self._dt_constant(x)
        contexts, layers = {}, {}
        for spec in self._arch.layers:
            active = training and (spec.noise.is_active() or spec.perturb.is_active())
            noise = NoiseRuntime(spec.noise, spec.perturb, batch=batch, dim=spec.dim, device=x.device,
                                 dtype=x.dtype, active=active) if active else NoiseRuntime.inactive()
            contexts[spec.layer_id] = LayerRunContext(dt=dt, training=training, noise=noise, batch=batch,
                                                      steps=steps, track_phi=track_phi, track_g=track_g)
            layers[spec.layer_id] = self.layers[str(spec.layer_id)]
        weights = {name: conn.forward_weight(training) for name, conn in self.connections.items()}
        incoming: dict[int, list[Connection]] = {lid: [] for lid in layers}
        internal: dict[int, InternalWeight | None] = {lid: None for lid in layers}
        edges = {}  # fresh (zero) edge states of every dynamic connection for this forward
        for name, conn in self.connections.items():
            if conn.is_internal and not layers[conn.spec.to_layer].has_internal:
                continue  # the layer type never applies an internal connection (as the original)
            runner = conn.edge_runner(batch, dt, x) if conn.is_dynamic else None
            if conn.is_internal:
                lid = conn.spec.to_layer
                base = weights[name]
                layer_spec = layers[lid].spec
                if training:
                    offset = weight_offset(layer_spec.perturb, base.shape, base.device, base.dtype)
                    if offset is not None:
                        base = base + offset * conn.mask
                internal[lid] = InternalWeight(conn, base, training, contexts[lid].noise, edge=runner)
            else:
                incoming[conn.spec.to_layer].append(conn)
                if runner is not None:
                    edges[name] = runner
        return ForwardPlan(
            layer_ids=self.layer_ids, layers=layers, contexts=contexts, incoming=incoming,
            internal=internal, weights=weights, initial=self._initial_states(initial_states, batch, x),
            simulation=sim, training=training, edges=edges)

    def simulate(self, x: Tensor, initial_states: Mapping[StateKey, Tensor] | None = None,
                 track_phi: bool = False, track_g: bool = False) -> SimulationResult:
        """Run the network on x [B, T, D_in]; every layer's history keyed by layer id.

        ``initial_states`` maps layer id (or (id, 's1'/'s2')) to [B, D] or [D] states
        (broadcast over the batch); missing ones start at zero. ``track_phi``/``track_g``
        (or the simulation block's flags) add flux/drive histories [B, T, D].

        Args:
            x: input [B, T, D_in] (flux, Phi0, for physical inputs).
            initial_states: start states by layer id (missing: zero).
            track_phi: record every layer's flux history.
            track_g: record every layer's drive history.
        """
        x = self._check_input(x)
        sim = self._arch.simulation
        plan = self._plan(x, initial_states, track_phi or sim.track_phi, track_g or sim.track_g)
        return evaluate(plan, x.transpose(0, 1).contiguous())

    def forward(self, x: Tensor, initial_states: Mapping[StateKey, Tensor] | None = None) -> Tensor:
        """Output layer history [B, T+1, D_out] (index 0 = initial state)."""
        return self.simulate(x, initial_states=initial_states).output

    def extra_repr(self) -> str:
        """One line for ``repr(model)`` (nn.Module's hook): layer ids, dt, input type, evaluation."""
        sim = self._arch.simulation
        return (f"layers={self.layer_ids}, dt={self.dt:g}, input_type={sim.input_type}, "
                f"evaluation={sim.network_evaluation_method}")


__all__ = ["CORE_NOISE_KEYS", "ArchitectureError", "SOENModel"]
