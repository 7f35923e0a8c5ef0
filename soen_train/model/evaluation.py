"""Network evaluation: how the layers of a model are advanced through time.

- ``layerwise``: each layer runs over all T steps before the next one (feed-forward
  graphs; internal connections allowed). A layer's external flux for the whole sequence
  is one matrix product per incoming connection, computed up front.
- ``stepwise_gauss_seidel``: per step, layers update in id order with the freshest
  states; an edge from a higher id to a lower id (feedback) sees the previous step.
- ``stepwise_jacobi``: per step, every flux comes from the previous step's states.

A feedback connection (higher id to lower id) cannot run layerwise: as in the original, the
architecture is switched to ``stepwise_gauss_seidel`` with a warning when it is read
(``switch_feedback_to_stepwise``).

Dynamic connections (WICC / NOCC edges, ``dynamic_edges``) keep their edge states for the
whole forward pass. Layerwise and Gauss-Seidel advance an edge with the source state the
fixed product would use and deliver the UPDATED edge output in the same step; Jacobi
delivers the output of the edge states before the update, then advances them with the
source's previous state (one extra step of delay per dynamic edge, as in the original).
Per-step connection noise ``j`` perturbs the phi_y the edges read at each step, in every
method (the original drops the edge dynamics in layerwise when j-noise is on: not copied).

Stepwise modes batch over time where the graph allows: the layers are grouped into the
strongly connected components of the connection graph and the groups run in dependency
order. A layer on no cycle runs over the whole sequence at once (on its fused scan), its
flux made from the finished source histories with the step each method delivers (the
source's update of the same step, or of the step before); only the layers of a cycle
advance together step by step. This is the per-step loop's arithmetic, reordered
(``run_stepwise_reference`` keeps the loop as the oracle). A layer whose solver is not FE
runs its FE steps, as in the loop.

Stepwise modes can stop early at a steady state (patience or trailing-window criterion);
a model that asks for it runs the whole loop step by step.

Indexing (time-major [T+1, B, D]): history[0] is the initial state and history[t+1] the
state after step t; an edge from a lower id into layer L at step t uses the source's state
t+1 (its update of the same step), which is why Gauss-Seidel equals layerwise on
feed-forward graphs.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from soen_train.graph_components import strongly_connected_components

from .connections import Connection
from .dynamic_edges import EdgeRunner
from .layers import InternalWeight, LayerHistory, LayerRunContext, SOENLayer
from .result import SimulationResult
from .spec_types import ConnectionSpec, SimulationSpec


def switch_feedback_to_stepwise(simulation: SimulationSpec, connections: Sequence[ConnectionSpec]) -> None:
    """Layerwise with a feedback connection runs as stepwise_gauss_seidel (one warning).

    Layerwise evaluation finishes a layer before the next one starts, so a connection into
    a lower id (feedback) has no source history yet. The original toolkit switches such a
    model to Gauss-Seidel (where feedback sees the previous step); this does the same to
    ``simulation`` in place, so every backend and a saved spec see the method that runs.
    """
    if simulation.network_evaluation_method != "layerwise":
        return
    feedback = [c for c in connections if c.from_layer > c.to_layer]
    if not feedback:
        return
    names = ", ".join(f"{c.from_layer}->{c.to_layer}" for c in feedback)
    warnings.warn(
        f"feedback connection {names} cannot run layerwise: network_evaluation_method "
        "switched to 'stepwise_gauss_seidel' (feedback sees the previous step)",
        UserWarning, stacklevel=4)
    simulation.network_evaluation_method = "stepwise_gauss_seidel"


@dataclass
class ForwardPlan:
    """Everything fixed for one forward pass: order, contexts, weights, initial states."""

    layer_ids: list[int]
    layers: dict[int, SOENLayer]
    contexts: dict[int, LayerRunContext]
    incoming: dict[int, list[Connection]]  # external connections into each layer
    internal: dict[int, InternalWeight | None]
    weights: dict[str, Tensor]  # per-forward J of every external connection
    initial: dict[int, dict[str, Tensor]]
    simulation: SimulationSpec
    training: bool
    edges: dict[str, EdgeRunner] = field(default_factory=dict)  # dynamic external connections


# What a connection delivers at step t (see the module docstring):
FRESH = "fresh"  # the source's state after step t (layerwise; Gauss-Seidel from a lower id)
PREVIOUS = "previous"  # the state before step t (Gauss-Seidel feedback)
PREVIOUS_EDGE_LAGGED = "previous, edges lagged"  # Jacobi: previous state, edge output before its update


def _edge_flux(conn: Connection, runner: EdgeRunner, history: Tensor, weight: Tensor,
               training: bool, delivery: str) -> Tensor:
    """Flux [T, B, D_to] of a dynamic connection, its edges advanced once per step."""
    states = history[1:] if delivery == FRESH else history[:-1]
    outputs = []
    for state in states.unbind(0):
        step_weight = conn.step_weight(weight, training)
        if delivery == PREVIOUS_EDGE_LAGGED:
            outputs.append(runner.output())
            runner.advance(state, step_weight)
        else:
            outputs.append(runner.advance(state, step_weight))
    return torch.stack(outputs, dim=0)


def _connection_flux(conn: Connection, history: Tensor, weight: Tensor, training: bool,
                     runner: EdgeRunner | None = None, delivery: str = FRESH) -> Tensor:
    """Flux [T, B, D_to] a connection delivers from a source history [T+1, B, D_from].

    Step t uses the source state t+1 (``FRESH``) or t (the ``PREVIOUS`` deliveries). When
    the history needs gradients and the target is not wider than the source, the product
    runs over all T+1 states and drops one row, so the backward pass never zero-fills a
    [T+1, B, D_from] gradient for the slice.
    """
    if runner is not None:
        return _edge_flux(conn, runner, history, weight, training, delivery)
    rows = slice(1, None) if delivery == FRESH else slice(None, -1)
    std = conn.step_noise_std(training)
    if std == 0.0:
        if history.requires_grad and weight.shape[0] <= weight.shape[1]:
            return (history @ weight.t())[rows]
        return history[rows] @ weight.t()
    source_states = history[rows]
    steps = source_states.shape[0]
    noisy = torch.stack([conn.step_weight(weight, training) for _ in range(steps)], dim=0)
    return torch.einsum("tbf,tdf->tbd", source_states, noisy)


def _input_state_history(x: Tensor, ctx: LayerRunContext, s0: Tensor) -> Tensor:
    """History of a first layer whose states are the input (``input_type: state``)."""
    return torch.cat([s0.unsqueeze(0), ctx.noise.apply_step("s", x)], dim=0)


def run_layerwise(plan: ForwardPlan, x: Tensor) -> SimulationResult:
    """Layer after layer over the whole sequence (x is time-major [T, B, D_in])."""
    histories: dict[int, LayerHistory] = {}
    for lid in plan.layer_ids:
        histories[lid] = _whole_sequence(plan, lid, x, histories, set(plan.layer_ids),
                                         jacobi=False, fe_steps=False)
    return _result(plan, histories)


def _whole_sequence(plan: ForwardPlan, lid: int, x: Tensor, histories: dict[int, LayerHistory],
                    sources: set[int], *, jacobi: bool, fe_steps: bool) -> LayerHistory:
    """Layer ``lid`` over all T steps, fed the input and the finished histories of ``sources``.

    Layerwise evaluation runs every layer this way; stepwise evaluation the layers on no cycle
    (``jacobi`` picks its delivery, ``fe_steps`` keeps a non-FE solver on the FE steps the
    stepwise loop takes).
    """
    layer, ctx, state0 = plan.layers[lid], plan.contexts[lid], plan.initial[lid]
    if lid == plan.layer_ids[0] and plan.simulation.input_type == "state":
        states = _input_state_history(x, ctx, state0["s"])
        return LayerHistory(states=states, phi=x if ctx.track_phi else None, g=x if ctx.track_g else None)
    phi_ext = _external_drive(plan, lid, x, histories, jacobi, sources)
    if phi_ext is None:
        phi_ext = x.new_zeros(x.shape[0], x.shape[1], layer.dim)
    if fe_steps and layer.solver != "FE":
        return layer.run_steps(phi_ext, state0, plan.internal[lid], layer.prepare(ctx), ctx)
    return layer.run_sequence(phi_ext, state0, plan.internal[lid], ctx)


class _SteadyStateMonitor:
    """Early-stop test of the stepwise solvers (patience or trailing-window criterion)."""

    def __init__(self, sim: SimulationSpec) -> None:
        self.enabled = bool(sim.early_stopping_forward_pass)
        self.sim = sim
        self.window = int(sim.steady_window_min)
        self.deltas: deque = deque(maxlen=max(self.window, 1))
        self.levels: deque = deque(maxlen=max(self.window, 1))
        self.calm_steps = 0

    def should_stop(self, step: int, previous: dict[int, Tensor], current: dict[int, Tensor]) -> bool:
        """Record step ``step`` (0-based) and say whether the network is at steady state."""
        if not self.enabled:
            return False
        with torch.no_grad():
            delta = max(float((current[k] - previous[k]).abs().max()) for k in current)
            level = max(float(current[k].abs().max()) for k in current)
        if step + 1 < self.sim.early_stopping_min_steps:
            if self.window > 0:
                self.deltas.append(delta)
                self.levels.append(level)
            return False
        if self.window > 0:
            self.deltas.append(delta)
            self.levels.append(level)
            if len(self.deltas) < self.window:
                return False
            threshold = self.sim.steady_tol_abs + self.sim.steady_tol_rel * max(1e-12, max(self.levels))
            return max(self.deltas) <= threshold
        self.calm_steps = self.calm_steps + 1 if delta <= self.sim.early_stopping_tolerance else 0
        return self.calm_steps >= self.sim.early_stopping_patience


def _delivery(order: dict[int, int], src: int, dst: int, jacobi: bool) -> str:
    """Which state of ``src`` the stepwise method feeds ``dst`` at a step."""
    if jacobi:
        return PREVIOUS_EDGE_LAGGED
    return FRESH if order[src] < order[dst] else PREVIOUS


def stepwise_groups(plan: ForwardPlan) -> list[list[int]]:
    """The layers' strongly connected components, each in id order, sources first.

    A component of one layer without a connection onto itself depends on finished
    histories only, so it can run over the whole sequence; a larger one (a cycle through
    feedback) must step its layers together.
    """
    targets: dict[int, list[int]] = {lid: [] for lid in plan.layer_ids}
    for dst, conns in plan.incoming.items():
        for conn in conns:
            targets[conn.spec.from_layer].append(dst)
    order = {lid: i for i, lid in enumerate(plan.layer_ids)}
    return [sorted(c, key=order.__getitem__) for c in strongly_connected_components(plan.layer_ids, targets)]


def _external_drive(plan: ForwardPlan, lid: int, x: Tensor, histories: dict[int, LayerHistory],
                    jacobi: bool, outside: set[int]) -> Tensor | None:
    """Flux [T, B, D] into ``lid`` from the network input and the finished layers ``outside``."""
    order = {layer: i for i, layer in enumerate(plan.layer_ids)}
    first = plan.layer_ids[0]
    phi_ext: Tensor | None = x if (lid == first and plan.simulation.input_type == "flux") else None
    for conn in plan.incoming[lid]:
        src = conn.spec.from_layer
        if src not in outside:
            continue
        flux = _connection_flux(conn, histories[src].states, plan.weights[conn.name], plan.training,
                                plan.edges.get(conn.name), _delivery(order, src, lid, jacobi))
        phi_ext = flux if phi_ext is None else phi_ext + flux
    return phi_ext


def run_stepwise(plan: ForwardPlan, x: Tensor, *, jacobi: bool) -> SimulationResult:
    """Stepwise evaluation (Gauss-Seidel or Jacobi), batched over time where the graph allows.

    x is time-major [T, B, D_in]. Same numbers as `run_stepwise_reference` (the per-step
    loop) up to float rounding; with noise on, the same distributions (drawn in another order).
    """
    if plan.simulation.early_stopping_forward_pass:  # the stop step depends on every layer
        return run_stepwise_reference(plan, x, jacobi=jacobi)
    histories: dict[int, LayerHistory] = {}
    for group in stepwise_groups(plan):
        done = set(histories)
        lid = group[0]
        self_loop = any(c.spec.from_layer == lid for c in plan.incoming[lid])
        if len(group) == 1 and not self_loop:
            histories[lid] = _whole_sequence(plan, lid, x, histories, done, jacobi=jacobi, fe_steps=True)
            continue
        drive = {m: _external_drive(plan, m, x, histories, jacobi, done) for m in group}
        histories.update(_step_together(plan, group, x, drive, jacobi, monitor=None))
    return _result(plan, {lid: histories[lid] for lid in plan.layer_ids})


def run_stepwise_reference(plan: ForwardPlan, x: Tensor, *, jacobi: bool) -> SimulationResult:
    """The per-step loop over every layer: the oracle of `run_stepwise`, and the path of early
    stopping."""
    drive = {lid: (x if (lid == plan.layer_ids[0] and plan.simulation.input_type == "flux") else None)
             for lid in plan.layer_ids}
    histories = _step_together(plan, plan.layer_ids, x, drive, jacobi,
                               monitor=_SteadyStateMonitor(plan.simulation))
    return _result(plan, histories)


def _step_together(plan: ForwardPlan, group: list[int], x: Tensor, drive: dict[int, Tensor | None],
                   jacobi: bool, monitor: _SteadyStateMonitor | None) -> dict[int, LayerHistory]:
    """Advance the layers ``group`` (id order) one step at a time, all together.

    ``drive[lid]``: the flux [T, B, D] each gets from the input and from layers outside the
    group (None: none); connections inside the group are applied step by step.
    """
    first = plan.layer_ids[0]
    input_type = plan.simulation.input_type
    steps, batch, _ = x.shape
    values = {lid: plan.layers[lid].prepare(plan.contexts[lid]) for lid in group}
    members = set(group)
    static_internal = {
        lid: (w.base if (w is not None and w.is_static) else None)
        for lid, w in plan.internal.items() if lid in members
    }
    drives_t = {lid: (d.unbind(0) if d is not None else None) for lid, d in drive.items()}
    state = {lid: dict(plan.initial[lid]) for lid in group}
    records: dict[int, list[Tensor]] = {lid: [state[lid]["s"]] for lid in group}
    phis: dict[int, list[Tensor]] = {lid: [] for lid in group}
    drives: dict[int, list[Tensor]] = {lid: [] for lid in group}
    inputs = x.unbind(0)
    for t in range(steps):
        fresh: dict[int, dict[str, Tensor]] = {}
        for lid in group:
            layer, ctx = plan.layers[lid], plan.contexts[lid]
            if lid == first and input_type == "state":
                s_new = ctx.noise.apply_step("s", inputs[t])
                fresh[lid] = {"s": s_new}
                phi = g = inputs[t]
            else:
                phi_ext = drives_t[lid][t] if drives_t[lid] is not None else None
                for conn in plan.incoming[lid]:
                    src = conn.spec.from_layer
                    if src not in members:
                        continue  # in the drive already
                    use_fresh = (not jacobi) and src in fresh
                    s_src = fresh[src]["s"] if use_fresh else state[src]["s"]
                    weight = conn.step_weight(plan.weights[conn.name], plan.training)
                    runner = plan.edges.get(conn.name)
                    if runner is None:
                        contribution = s_src @ weight.t()
                    elif jacobi:  # flux from the edge states before this step's update
                        contribution = runner.output()
                        runner.advance(s_src, weight)
                    else:
                        contribution = runner.advance(s_src, weight)
                    phi_ext = contribution if phi_ext is None else phi_ext + contribution
                if phi_ext is None:
                    phi_ext = x.new_zeros(batch, layer.dim)
                internal = plan.internal[lid]
                weight_t = static_internal[lid]
                if weight_t is None and internal is not None:
                    weight_t = internal.at_step()
                fresh[lid], phi, g = layer.step(phi_ext, state[lid], weight_t, values[lid], ctx)
            records[lid].append(fresh[lid]["s"])
            if ctx.track_phi:
                phis[lid].append(phi)
            if ctx.track_g:
                drives[lid].append(g)
        stop = monitor is not None and monitor.should_stop(
            t, {k: state[k]["s"] for k in fresh}, {k: v["s"] for k, v in fresh.items()})
        state = fresh
        if stop:
            break
    histories = {}
    for lid in group:
        ctx = plan.contexts[lid]
        aux = {k: state[lid][k] for k in plan.layers[lid].AUX_STATES}
        histories[lid] = LayerHistory(
            states=torch.stack(records[lid], dim=0), aux_final=aux,
            phi=torch.stack(phis[lid], dim=0) if ctx.track_phi else None,
            g=torch.stack(drives[lid], dim=0) if ctx.track_g else None,
        )
    return histories


def _result(plan: ForwardPlan, histories: dict[int, LayerHistory]) -> SimulationResult:
    phi = {lid: h.phi for lid, h in histories.items() if h.phi is not None}
    g = {lid: h.g for lid, h in histories.items() if h.g is not None}
    aux = {lid: h.aux_final for lid, h in histories.items() if h.aux_final}
    return SimulationResult(
        {lid: h.states for lid, h in histories.items()}, plan.layer_ids[-1],
        phi_time_major=phi, g_time_major=g, aux_final=aux,
    )


def evaluate(plan: ForwardPlan, x: Tensor) -> SimulationResult:
    """Dispatch on ``simulation.network_evaluation_method`` (x time-major [T, B, D_in])."""
    method = plan.simulation.network_evaluation_method
    if method == "layerwise":
        return run_layerwise(plan, x)
    return run_stepwise(plan, x, jacobi=(method == "stepwise_jacobi"))

