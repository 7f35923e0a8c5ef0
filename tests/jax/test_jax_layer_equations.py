"""Each JAX layer against the original's equations: the numbers the original computed for
hand-set weights (original_model_extras 2.11 and 3), without any torch model in between."""

from __future__ import annotations

from typing import Dict, Optional

import jax.numpy as jnp
import numpy as np
import pytest

from soen_train.jax.layers import JAX_LAYERS, soft_abs
from soen_train.jax.source_functions import jax_source_function

DT = 37.0
# 2.11: phi = x for three steps, two nodes
X = np.array([[0.1, 0.2], [0.3, -0.1], [0.0, 0.4]], np.float32)


def _pattern(rows: int, cols: int) -> np.ndarray:
    """w_k = 0.1 ((k mod 7) - 3), filled row-major."""
    k = np.arange(rows * cols)
    return (0.1 * ((k % 7) - 3)).reshape(rows, cols).astype(np.float32)


def _run(layer_type: str, p: Dict[str, np.ndarray], phis: np.ndarray, source: Optional[str] = None,
         weight: Optional[np.ndarray] = None, constants: Optional[dict] = None):
    """History rows 1..T and the final state of one layer driven by phis [T, D] (batch 1)."""
    cls = JAX_LAYERS.get(layer_type)
    dim = phis.shape[1]
    layer = cls(layer_id=1, dim=dim, source=jax_source_function(source) if source else None,
                has_internal=weight is not None,
                param_map=tuple((r.name, r.name) for r in cls.ROLES),
                constants=cls.constants_from(constants or {}, {}))
    params = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    state = layer.initial_state(jnp.zeros((1, dim)), {})
    w = None if weight is None else jnp.asarray(weight, jnp.float32)
    rows = []
    for phi in phis:
        state, _, _ = layer.step(params, jnp.asarray(phi[None]), state, w, jnp.float32(DT))
        rows.append(np.asarray(state["s"][0]))
    return np.stack(rows), state


def _torch_cell(h: int, gates: int) -> Dict[str, np.ndarray]:
    return {
        "weight_ih": _pattern(gates * h, h),
        "weight_hh": _pattern(gates * h, h),
        "bias_ih": np.full(gates * h, 0.05, np.float32),
        "bias_hh": np.full(gates * h, 0.05, np.float32),
    }


CHECKS_2_11 = {
    "RNN": ([[0.029991, 0.089758], [0.003051, 0.066901], [0.005704, 0.099366]], _torch_cell(2, 1)),
    "GRU": ([[0.016357, 0.046238], [0.018640, 0.056038], [0.023935, 0.087809]], _torch_cell(2, 3)),
    "LSTM": ([[0.016567, 0.031626], [0.020374, 0.041582], [0.026116, 0.057820]], _torch_cell(2, 4)),
    "LeakyGRU": (
        [[-0.033693, 0.016853], [-0.048817, -0.005777], [-0.040882, 0.032784]],
        {
            "decay_bias": np.full(2, -1.678930, np.float32),
            "candidate_bias": np.zeros(2, np.float32),
            "weight_ih": _pattern(6, 2),
            "weight_hh": _pattern(6, 2),
        },
    ),
    "MinGRU": (
        [[-0.033720, -0.004975], [-0.051171, -0.017295], [-0.064927, -0.008648]],
        {"hidden_weight": _pattern(2, 2), "gate_weight": _pattern(2, 2)},
    ),
    "Softmax": (
        [[0.475021, 0.524979], [0.598688, 0.401312], [0.401312, 0.598688]],
        {"beta": np.ones(2, np.float32)},
    ),
}


@pytest.mark.parametrize("layer_type", sorted(CHECKS_2_11))
def test_virtual_cells_match_the_original_check(layer_type: str) -> None:
    expected, params = CHECKS_2_11[layer_type]
    got, _ = _run(layer_type, params, X)
    np.testing.assert_allclose(got, np.array(expected), rtol=0, atol=2e-6)


def test_dendrite_readout_reads_the_table_at_the_bias_current() -> None:
    """i = bias_current (1.7), not bias - s: the original's RateArray numbers."""
    params = {"phi_offset": np.zeros(2, np.float32), "bias_current": np.full(2, 1.7, np.float32)}
    got, _ = _run("DendriteReadout", params, X, source="RateArray")
    expected = [[5.885267e-06, 3.454103e-05], [0.3600575, 5.885146e-06], [0.0, 0.4715565]]
    np.testing.assert_allclose(got, np.array(expected), rtol=0, atol=2e-6)


def test_scaling_and_nonlinear_layers() -> None:
    scale = np.array([1.0, -2.0], np.float32)
    got, _ = _run("ScalingLayer", {"scale_factor": scale}, X)
    np.testing.assert_allclose(got, X * scale, rtol=0, atol=1e-7)
    params = {"phi_offset": np.zeros(2, np.float32), "bias_current": np.full(2, 1.7, np.float32)}
    got, _ = _run("NonLinear", params, X, source="Tanh")
    np.testing.assert_allclose(got, np.tanh(X), rtol=0, atol=1e-7)


def test_stateless_layers_ignore_an_internal_connection() -> None:
    """2.1: Input(2) -> Linear(2) with an internal J = 0.5 everywhere: the state is the flux."""
    x = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    got, _ = _run("Linear", {}, x, weight=np.full((2, 2), 0.5, np.float32))
    np.testing.assert_allclose(got, x, rtol=0, atol=0)


NOCC_DEFAULTS = {
    "phi_y": 0.1, "bias_current": 2.1, "alpha": 1.64053, "beta": 303.85, "beta_out": 91.156,
}


def _nocc_params(dim: int) -> Dict[str, np.ndarray]:
    return {k: np.full(dim, v, np.float32) for k, v in NOCC_DEFAULTS.items()}


@pytest.mark.parametrize(
    "source,m,s1,s2",
    [
        ("RateArray", [0.0156751, 0.0306318, 0.0445973], 0.164487, 0.0983061),
        ("Heaviside_fit_state_dep", [0.0153349, 0.0297831, 0.0433928], 0.167227, 0.102839),
    ],
)
def test_nocc_single_node(source: str, m, s1: float, s2: float) -> None:
    """Section 3: phi = 0.2 for 3 steps, defaults, no internal connection (N = 1)."""
    got, state = _run("MultiplierNOCC", _nocc_params(1), np.full((3, 1), 0.2, np.float32),
                      source=source)
    np.testing.assert_allclose(got[:, 0], m, rtol=0, atol=2e-7)
    np.testing.assert_allclose(float(state["s1"][0, 0]), s1, rtol=0, atol=2e-6)
    np.testing.assert_allclose(float(state["s2"][0, 0]), s2, rtol=0, atol=2e-6)


def test_nocc_fan_in_comes_from_the_internal_connection_only() -> None:
    """Input(3) -> NOCC(2) dense J = 0.1, x = [0.1, 0.2, 0.3]: phi = 0.06 on both nodes.
    Three inputs do not count (N = 1); an internal 2x2 of 0.05 gives N = 2 and feedback."""
    phis = np.full((3, 2), 0.06, np.float32)
    got, _ = _run("MultiplierNOCC", _nocc_params(2), phis, source="RateArray")
    np.testing.assert_allclose(got, np.repeat([[0.0116476], [0.0228431], [0.0331924]], 2, 1),
                               rtol=0, atol=2e-7)
    got, _ = _run("MultiplierNOCC", _nocc_params(2), phis, source="RateArray",
                  weight=np.full((2, 2), 0.05, np.float32))
    np.testing.assert_allclose(got, np.repeat([[0.0084709], [0.0170761], [0.0254849]], 2, 1),
                               rtol=0, atol=2e-7)


def test_soft_abs() -> None:
    np.testing.assert_allclose(np.asarray(soft_abs(jnp.array([2.1, 0.0, -2.1]))),
                               [2.102380, 0.1, 2.102380], rtol=0, atol=1e-6)


def test_leaky_gru_candidate_diagonal_modes() -> None:
    """candidate_diag zero / one / free set W_hn's diagonal; the off-diagonal stays."""
    cls = JAX_LAYERS.get("LeakyGRU")
    w = jnp.asarray(_pattern(6, 2))
    for mode, diag in (("zero", [0.0, 0.0]), ("one", [1.0, 1.0]), ("free", None)):
        layer = cls(layer_id=1, dim=2, constants=cls.constants_from({"candidate_diag": mode}, {}))
        rec = np.asarray(layer.recurrent({"weight_hh": w}))
        full = np.asarray(w[4:])
        np.testing.assert_allclose(np.diag(rec), np.diag(full) if diag is None else diag)
        np.testing.assert_allclose(rec[0, 1], full[0, 1])
        np.testing.assert_allclose(rec[1, 0], full[1, 0])
