"""JAX dynamic edges against the original's numbers (original_model_extras 1.9 checks).

Input(F) -> Linear(D) through one dense connection of constant J, fed a constant x: the
Linear layer's state is the flux the edges deliver, so its history is the edge output.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import pytest

from soen_train.jax.simulator import JaxSOEN
from soen_train.model.network import SOENModel


def _edge_net(mode: str, method: str, dims=(1, 1), weight: float = 0.2,
              circuit: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    params: Dict[str, Any] = {"init": "constant", "value": weight, "mode": mode}
    if circuit:
        params["connection_params"] = circuit
    return {
        "simulation": {"dt": 37.0, "network_evaluation_method": method},
        "layers": [
            {"layer_id": 0, "layer_type": "Input", "params": {"dim": dims[0]}},
            {"layer_id": 1, "layer_type": "Linear", "params": {"dim": dims[1]}},
        ],
        "connections": [{"from_layer": 0, "to_layer": 1, "connection_type": "dense",
                         "params": params}],
    }


SINGLE = [0.3] * 4
TRIPLE = [[0.1, 0.2, 0.3]] * 3
CHECKS = [
    ("WICC", "layerwise", None, SINGLE, [0, 0.00815181, 0.0152539, 0.0214788, 0.0269551]),
    ("WICC", "stepwise_gauss_seidel", None, SINGLE,
     [0, 0.00815181, 0.0152539, 0.0214788, 0.0269551]),
    ("WICC", "stepwise_jacobi", None, SINGLE, [0, 0, 7.35e-10, 0.00815181, 0.0152539]),
    ("NOCC", "layerwise", None, SINGLE, [0, 0.00675519, 0.0131836, 0.0191684, 0.0246115]),
    ("NOCC", "stepwise_jacobi", None, SINGLE, [0, 0, 0, 0.00835614, 0.0156518]),
    ("WICC", "layerwise", {"half_flux_offset": True}, SINGLE,
     [0, -0.004578, -0.0087458, -0.0125421, -0.0160006]),
    ("WICC", "layerwise", None, TRIPLE, [0, 0.0201373, 0.0350123, 0.0470349]),
    ("NOCC", "layerwise", None, TRIPLE, [0, 0.00852362, 0.0170159, 0.0251743]),
]


@pytest.mark.parametrize("mode,method,circuit,x,expected", CHECKS)
def test_edge_output_matches_the_original(mode: str, method: str, circuit, x: List,
                                          expected: List[float]) -> None:
    x = np.asarray(x, np.float32).reshape(1, len(x), -1)
    dims = (x.shape[2], 2 if x.shape[2] == 3 else 1)
    weight = 0.1 if x.shape[2] == 3 else 0.2
    model = SOENModel.from_yaml(_edge_net(mode, method, dims, weight, circuit))
    jax_model, params = JaxSOEN.from_torch(model)
    assert jax_model.network.connections[0].edge is not None
    out = np.asarray(jax_model.output(params, x))[0]
    for node in range(dims[1]):  # every destination node gets the same flux here
        np.testing.assert_allclose(out[:, node], expected, rtol=0, atol=1e-7)


def test_wicc_auto_j_out_follows_the_edges_into_each_node() -> None:
    """j_out_i = 2.5e-10 / (40e-12 N_i + 3.35e-10): N = 3 gives 0.549451."""
    model = SOENModel.from_yaml(_edge_net("WICC", "layerwise", (3, 2), 0.1))
    jax_model, _ = JaxSOEN.from_torch(model)
    edge = jax_model.network.connections[0].edge
    assert edge.edges == 6
    np.testing.assert_allclose(edge.j_out, [0.549451, 0.549451], rtol=0, atol=1e-6)


def test_fixed_connection_has_no_edges() -> None:
    model = SOENModel.from_yaml(_edge_net("fixed", "layerwise"))
    jax_model, params = JaxSOEN.from_torch(model)
    assert jax_model.network.connections[0].edge is None
    out = np.asarray(jax_model.output(params, np.full((1, 3, 1), 0.3, np.float32)))[0, :, 0]
    np.testing.assert_allclose(out, [0, 0.06, 0.06, 0.06], rtol=0, atol=1e-7)
