"""Original JAX `.pkl` checkpoints with GRU / LSTM / MinGRU layers and dynamic (WICC / NOCC)
edges migrate with every tensor in place and run the same in torch and JAX; what the JAX
backend cannot run is written as a .soen for the torch backend; unknown kinds are refused."""

from __future__ import annotations

import pickle

import numpy as np
import torch
from original_pickles import (
    EDGE_J,
    EDGE_MASK01,
    GRU_W,
    J44,
    LSTM_W,
    MINGRU_W,
    WICC_JOUT,
    write_original_pickle,
    write_recurrent_pickle,
)

from soen_train.jax.cli import main as jax_cli
from soen_train.jax.simulator import JaxSOEN
from soen_train.model.architecture import parse_architecture
from soen_train.model.network import SOENModel


def _connection(model, name):
    return next(c for c in model.spec["connections"] if f"{c['from_layer']}_to_{c['to_layer']}" == name)


def test_recurrent_layers_and_dynamic_edges_migrate_and_run_in_jax(tmp_path, capsys):
    pkl = write_recurrent_pickle(tmp_path / "last.pkl")
    assert jax_cli(["migrate", str(pkl)]) == 0
    model = SOENModel.load(tmp_path / "last.soen")
    named = {k: v.detach().numpy() for k, v in model.parameters_by_name().items()}
    for lid, weights, gates, dim in ((1, GRU_W, 3, 3), (2, LSTM_W, 4, 2)):
        w_ih, w_hh, b_ih, b_hh = weights
        np.testing.assert_allclose(named[f"layers.{lid}.module.weight_ih_l0"], w_ih.reshape(gates * dim, dim), rtol=1e-6)
        np.testing.assert_allclose(named[f"layers.{lid}.module.weight_hh_l0"][dim:2 * dim], w_hh[1], rtol=1e-6)
        np.testing.assert_allclose(named[f"layers.{lid}.module.bias_ih_l0"], b_ih.ravel(), rtol=1e-6)
        np.testing.assert_allclose(named[f"layers.{lid}.module.bias_hh_l0"], b_hh.ravel(), rtol=1e-6)
    np.testing.assert_allclose(named["layers.3.hidden_proj.weight"], MINGRU_W[0], rtol=1e-6)
    np.testing.assert_allclose(named["layers.3.gate_proj.weight"], MINGRU_W[1], rtol=1e-6)
    np.testing.assert_allclose(named["connections.0_to_1"], EDGE_J[0] * EDGE_MASK01, rtol=1e-6)
    np.testing.assert_allclose(named["connections.4_to_4"], J44, rtol=1e-6)

    wicc, nocc = _connection(model, "0_to_1")["params"], _connection(model, "1_to_2")["params"]
    assert wicc["mode"] == "WICC" and wicc["connection_params"]["j_out"] == WICC_JOUT
    assert wicc["connection_params"]["gamma_plus"] == 0.003
    assert nocc["mode"] == "NOCC" and nocc["connection_params"]["j_out"] == 0.3
    assert nocc["connection_params"]["bias_current"] == 2.1 and nocc["connection_params"]["beta_out"] == 91.156
    internal = _connection(model, "4_to_4")["params"]
    assert internal["mode"] == "WICC" and internal["connection_params"]["gamma_plus"] == 0.002
    np.testing.assert_array_equal(model.connection("0_to_1").mask.numpy(), EDGE_MASK01)  # 4 edges, not 6
    assert _connection(model, "2_to_3")["params"].get("mode", "fixed") == "fixed"

    jax_model, params = JaxSOEN.from_torch(model)
    assert jax_model.network.connections[0].edge is not None
    x = np.random.default_rng(0).uniform(0.0, 0.5, (2, 6, 2)).astype(np.float32)
    with torch.no_grad():
        expected = model.simulate(torch.as_tensor(x)).states
    got = jax_model.apply(params, x)
    for lid in (1, 2, 3, 4):  # GRU after the WICC edge, LSTM after NOCC, MinGRU, internal WICC
        assert np.abs(np.asarray(got[lid])).max() > 1e-6, lid
        np.testing.assert_allclose(np.asarray(got[lid]), expected[lid].numpy(), rtol=1e-4, atol=1e-7)
    capsys.readouterr()
    assert jax_cli(["verify", "--dir", str(tmp_path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'last.pkl'} vs {tmp_path / 'last.soen'}:" in out
    assert "layers.2.module.weight_ih_l0: shape (8, 2), max |diff| 0.000e+00" in out
    assert "2 of 2 checkpoints" in out


def test_a_model_the_jax_backend_cannot_run_becomes_a_soen_for_torch(tmp_path, capsys):
    full = write_original_pickle(tmp_path / "full.pkl")
    assert jax_cli(["migrate", str(full), "-o", str(tmp_path / "model")]) == 0
    spec = SOENModel.load(tmp_path / "model.soen").spec
    spec["simulation"].update(early_stopping_forward_pass=True,  # a data-dependent length: torch only
                              network_evaluation_method="stepwise_gauss_seidel")
    SOENModel(parse_architecture(spec), seed=0).save(tmp_path / "torch_only.soen")
    legacy = write_original_pickle(tmp_path / "old.pkl", with_model=False)
    capsys.readouterr()
    assert jax_cli(["migrate", str(legacy), "--soen", str(tmp_path / "torch_only.soen")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "early_stopping_forward_pass" in lines[0] and "training.backend=torch" in lines[0]
    assert f"model.base_model_path={tmp_path / 'old.soen'}" in lines[0]
    assert not (tmp_path / "old.jax.npz").exists()
    old = SOENModel.load(tmp_path / "old.soen")
    np.testing.assert_allclose(old.parameters_by_name()["connections.0_to_1"].detach().numpy(),
                               SOENModel.load(tmp_path / "model.soen").parameters_by_name()["connections.0_to_1"]
                               .detach().numpy(), rtol=1e-6)
    assert old.spec["simulation"]["early_stopping_forward_pass"] is True


def test_a_layer_kind_no_original_checkpoint_holds_is_refused_in_one_line(tmp_path, capsys):
    pkl = write_recurrent_pickle(tmp_path / "last.pkl")
    data = pickle.loads(pkl.read_bytes())
    data["jax_model"]["layers"][3]["kind"] = "Soma"
    pkl.write_bytes(pickle.dumps(data, protocol=4))
    assert jax_cli(["migrate", str(pkl)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer 3 of kind 'Soma'" in err[0] and "MinGRU" in err[0]
    assert not (tmp_path / "last.soen").exists()
