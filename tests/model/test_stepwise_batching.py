"""Stepwise evaluation batched over time equals the per-step loop.

`run_stepwise` runs each layer that is on no cycle of the connection graph over the whole
sequence at once and steps only the layers of a cycle together; `run_stepwise_reference` is
the loop over every step and layer. On random nets of every layer type, feed-forward, with
feedback that closes a cycle and with feedback that does not, with a dynamic (WICC) edge and
internal connections, Gauss-Seidel and Jacobi: outputs and every layer's history agree
within 1e-5 in float32 (1e-10 in float64) and the gradients of every parameter within 1e-4
of the largest one.
"""

import random

import pytest
import torch

from soen_train.model import SOENModel, evaluation

LAYER_TYPES = ["SingleDendrite", "Multiplier", "MultiplierNOCC", "RNN", "GRU", "LSTM", "LeakyGRU",
               "MinGRU"]
T, B = 9, 4

#: topology name -> (extra connections beyond the chain 0 -> 1 -> 2 -> 3, expected groups)
TOPOLOGIES = {
    "feed_forward": ([(0, 2), (1, 3)], [[0], [1], [2], [3]]),
    "cycle": ([(3, 2), (0, 2)], [[0], [1], [2, 3]]),
    "feedback_without_cycle": ([(4, 2)], [[0], [1], [4], [2], [3]]),  # layer 4 is fed by 0 only
    "self_edge_and_cycle": ([(2, 2), (3, 1)], [[0], [1, 2, 3]]),
}


def _net(topology: str, types: list[str], method: str, input_type: str, seed: int) -> dict:
    extra, _ = TOPOLOGIES[topology]
    rng = random.Random(seed)
    edges = [(0, 1), (1, 2), (2, 3), *extra]
    layers = [{"layer_id": 0, "layer_type": "Input", "params": {"dim": 3}}]
    ids = sorted({lid for edge in edges for lid in edge} | {1, 2, 3})
    if 4 in ids:
        edges.append((0, 4))
    for lid, layer_type in zip(ids[1:], types):
        layers.append({"layer_id": lid, "layer_type": layer_type,
                       "params": {"dim": rng.choice([2, 5, 7])}})
    connections = []
    for src, dst in edges:
        params = {"init": "uniform", "min": -0.4, "max": 0.4}
        if src == 0 and dst == 1 and layers[1]["layer_type"] == "SingleDendrite":
            params.update(mode="dynamic", connection_params={"gamma_plus": 0.002})  # a WICC edge
        connections.append({"from_layer": src, "to_layer": dst, "connection_type": "all_to_all",
                            "params": params})
    return {"simulation": {"dt": 37.0, "network_evaluation_method": method, "input_type": input_type},
            "layers": layers, "connections": connections}


def _through(model: SOENModel, x: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    result = model.simulate(x, track_phi=True)
    histories = ([result.states[lid] for lid in model.layer_ids]
                 + [result.phi[lid] for lid in model.layer_ids if lid in result.phi]
                 + [v for _, v in sorted(result.final_states().items(), key=lambda kv: str(kv[0]))])
    (result.output.pow(2).sum() + sum(h.sin().sum() for h in histories)).backward()
    return [h.detach() for h in histories] + [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("topology", list(TOPOLOGIES))
@pytest.mark.parametrize("method", ["stepwise_gauss_seidel", "stepwise_jacobi"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_stepwise_equals_the_step_loop(monkeypatch, topology, method, dtype, seed):
    rng = random.Random(seed * 31 + len(topology))
    types = [rng.choice(LAYER_TYPES) for _ in range(4)]
    types[0] = "SingleDendrite" if seed != 2 else types[0]  # most nets carry the dynamic edge
    spec = _net(topology, types, method, "state" if seed == 1 else "flux", seed)
    model = SOENModel.from_yaml(spec, seed=seed).to(dtype)
    x = torch.rand(B, T, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)

    plan = model._plan(x, None, False, False)
    groups = evaluation.stepwise_groups(plan)
    assert sorted(groups) == sorted(TOPOLOGIES[topology][1])
    where = {lid: i for i, group in enumerate(groups) for lid in group}
    for conn in spec["connections"]:  # sources first
        assert where[conn["from_layer"]] <= where[conn["to_layer"]]

    batched = _through(model, x)
    monkeypatch.setattr(evaluation, "run_stepwise", evaluation.run_stepwise_reference)
    reference = _through(model, x)
    assert len(batched) == len(reference)
    grads_from = len(reference) - sum(p.grad is not None for p in model.parameters())
    largest_grad = max(float(g.abs().max()) for g in reference[grads_from:])
    for index, (got, want) in enumerate(zip(batched, reference)):
        assert got.shape == want.shape, (types, index)
        if dtype == torch.float64:
            tol = 1e-10 * max(1.0, float(want.abs().max()))
        elif index < grads_from:
            tol = 1e-5 * max(1.0, float(want.abs().max()))
        else:
            tol = 1e-4 * max(1.0, largest_grad)
        assert float((got - want).abs().max()) <= tol, (types, index)



def test_components_come_sources_first_and_a_long_chain_needs_no_recursion():
    from soen_train.graph_components import strongly_connected_components

    edges = {"a": ["b"], "b": ["c", "d"], "c": ["b"], "d": ["d"], "e": []}
    components = strongly_connected_components("abcde", edges)
    assert sorted(map(sorted, components)) == [["a"], ["b", "c"], ["d"], ["e"]]
    where = {n: i for i, c in enumerate(components) for n in c}
    assert all(where[u] <= where[v] for u, vs in edges.items() for v in vs)
    chain = {i: [i + 1] for i in range(20000)}
    assert strongly_connected_components(range(20001), chain) == [[i] for i in range(20001)]
