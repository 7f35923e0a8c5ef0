"""Model files: safe .soen round trip, original-toolkit import, refusal of malicious pickles."""

import builtins
import pickle

import pytest
import torch
from safetensors import safe_open
from soen_model_builders import arch, conn, feed_forward, layer

from soen_train.model import SoenFileError, SOENModel


def rich_architecture():
    """Every layer type, internal connections, a sparse mask, polarity and learnable dt."""
    layers = [
        layer(0, "Input", 3),
        layer(1, "SingleDendrite", 4, source_func="RateArray", polarity_init="alternating",
              bias_current={"distribution": "normal", "params": {"mean": 1.8, "std": 0.05}}),
        layer(2, "MultiplierWICC", 3, source_func="Heaviside_fit_state_dep"),
        layer(3, "MultiplierNOCC", 3),
        layer(4, "MinGRU", 2), layer(5, "LeakyGRU", 2), layer(6, "RNN", 2), layer(7, "NonLinear", 2),
    ]
    conns = [conn(0, 1, "sparse", connection_probability=0.7, init="xavier_uniform"),
             conn(1, 1, init="normal", std=0.05, allow_self_connections=False,
                  constraints={"min": -0.24, "max": 0.24}),
             conn(1, 2), conn(2, 3), conn(3, 4), conn(4, 5), conn(5, 6), conn(6, 6), conn(6, 7)]
    spec = arch(layers, conns, dt_learnable=True)
    spec["layers"][1]["noise"] = {"phi": 0.01}
    spec["layers"][2]["perturb"] = {"bias_current_std": 0.02}
    return spec


def test_yaml_model_soen_model_is_bit_exact(tmp_path):
    model = SOENModel.from_yaml(rich_architecture(), seed=21)
    with torch.no_grad():
        model.dt_parameter.fill_(33.3)  # a trained dt survives too
    path = model.save(tmp_path / "net.soen")
    loaded = SOENModel.load(path)
    assert loaded.spec == model.spec
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for name in original:
        assert torch.equal(original[name], restored[name]), name
    model.eval(), loaded.eval()
    x = torch.rand(2, 9, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(x), loaded(x))
    assert loaded.dt == pytest.approx(33.3)


def test_soen_file_holds_only_arrays_and_json(tmp_path):
    model = SOENModel.from_yaml(feed_forward(), seed=1)
    path = model.save(tmp_path / "plain.soen")
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        assert meta["format"] == "soen_train/1"
        names = set(handle.keys())
        assert {"connections.0_to_1.weight", "connections.0_to_1.mask"} <= names
    assert '"layers"' in meta["spec"]


def test_float64_models_round_trip_exactly(tmp_path):
    model = SOENModel.from_yaml(feed_forward(), seed=1).double()
    loaded = SOENModel.load(model.save(tmp_path / "f64.soen"))
    assert loaded.layer(1).bias_current.dtype == torch.float64
    assert torch.equal(loaded.layer(1).bias_current, model.layer(1).bias_current)


class _Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_malicious_pickle_never_executes(tmp_path, writer):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.soen"
    payload = {"layers_config": [], "state_dict": {}, "trap": _Payload(marker)}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, str(path))
    with pytest.raises(SoenFileError, match="refused to load"):
        SOENModel.import_original(path)
    with pytest.raises(SoenFileError, match="not a soen_train .soen file"):
        SOENModel.load(path)
    assert not marker.exists()


def test_load_rejects_other_files(tmp_path):
    junk = tmp_path / "junk.soen"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(SoenFileError, match="import_original"):
        SOENModel.load(junk)
    with pytest.raises(FileNotFoundError):
        SOENModel.load(tmp_path / "absent.soen")


def original_toolkit_file(path):
    """A .soen laid out like the original toolkit's torch.save(dict)."""
    noise = {"phi": 0.0, "g": 0.0, "s": 0.0, "bias_current": 0.0, "j": 0.0, "relative": False, "extras": {}}
    perturb = {f"{k}_{s}": 0.0 for k in ("phi", "g", "s", "bias_current", "j") for s in ("mean", "std")}
    perturb.update(extras_mean={}, extras_std={})
    sim = {"dt": 37, "dt_learnable": False, "input_type": "state", "track_power": False, "track_phi": False,
           "track_g": False, "track_s": False, "network_evaluation_method": "layerwise",
           "early_stopping_forward_pass": False, "early_stopping_tolerance": 1e-6,
           "early_stopping_patience": 1, "early_stopping_min_steps": 1, "steady_window_min": 50,
           "steady_tol_abs": 1e-5, "steady_tol_rel": 1e-3}
    layers = [
        {"layer_id": 0, "layer_type": "Input", "params": {"dim": 2}, "model_id": 0, "description": "",
         "noise": noise, "perturb": perturb},
        {"layer_id": 1, "layer_type": "SingleDendrite",
         "params": {"dim": 3, "solver": "FE", "source_func_type": "Heaviside_fit_state_dep"},
         "model_id": 0, "description": "", "noise": noise, "perturb": perturb},
    ]
    conns = [
        {"from_layer": 0, "to_layer": 1, "connection_type": "all_to_all",
         "params": {"init": "uniform", "min": 0.1, "max": 0.2}, "learnable": True, "noise": noise,
         "perturb": perturb, "visualization_metadata": None},
        {"from_layer": 1, "to_layer": 1, "connection_type": "dense",
         "params": {"init": "normal", "std": 0.1, "allow_self_connections": False}, "learnable": True,
         "noise": noise, "perturb": perturb, "visualization_metadata": None},
    ]
    state = {
        "layers.1.phi_offset": torch.tensor([0.1, 0.2, 0.3]),
        "layers.1.bias_current": torch.tensor([1.8, 1.9, 2.0]),
        "layers.1.log_gamma_plus": torch.log(torch.tensor([1e-3, 2e-3, 3e-3])),
        "layers.1.log_gamma_minus": torch.log(torch.tensor([1e-4, 1e-4, 1e-4])),
        "connections.J_0_to_1": torch.tensor([[0.1, 0.2], [0.15, 0.12], [0.2, 0.11]]),
        "connections.J_1_to_1": torch.tensor([[0.0, 0.05, -0.02], [0.01, 0.0, 0.03], [0.0, 0.0, 0.0]]),
    }
    masks = {"J_0_to_1": torch.ones(3, 2), "J_1_to_1": 1.0 - torch.eye(3)}
    payload = {"state_dict": state, "sim_config": sim, "layers_config": layers, "connections_config": conns,
               "connection_masks": masks, "dt": 37.0, "dt_learnable": False, "model_type": "SOENModelCore",
               "metadata": {"save_timestamp": "2025-01-01T00:00:00", "model_hash": 12345}}
    torch.save(payload, str(path))
    return state, masks


def test_import_original_maps_configs_and_weights(tmp_path):
    path = tmp_path / "old.soen"
    state, masks = original_toolkit_file(path)
    model = SOENModel.import_original(path)
    assert model.layer_ids == [0, 1] and model.dt == 37.0
    dendrite = model.layer(1)
    assert dendrite.options["source_func"] == "Heaviside_fit_state_dep"
    assert torch.allclose(dendrite.gamma_plus, torch.tensor([1e-3, 2e-3, 3e-3]))
    assert torch.equal(dendrite.bias_current, state["layers.1.bias_current"])
    assert torch.equal(model.connection("1_to_1").mask, masks["J_1_to_1"])
    assert torch.equal(model.connection("0_to_1").weight, state["connections.J_0_to_1"])
    # The imported model simulates with exactly these values.
    x = torch.rand(1, 4, 2)
    out = model(x)[0]
    s = torch.zeros(3)
    from soen_train.model.source_functions import build_source_function
    src = build_source_function("Heaviside_fit_state_dep")
    for step in range(4):
        phi = x[0, step] @ state["connections.J_0_to_1"].t() + s @ state["connections.J_1_to_1"].t() + 0.0
        phi = phi + state["layers.1.phi_offset"]
        g = src.value(phi, state["layers.1.bias_current"] - s)
        s = (1 - 37.0 * 1e-4) * s + 37.0 * torch.tensor([1e-3, 2e-3, 3e-3]) * g
        assert torch.allclose(out[step + 1], s, atol=1e-6)


def test_import_original_reports_missing_tensors(tmp_path):
    path = tmp_path / "old.soen"
    original_toolkit_file(path)
    payload = torch.load(str(path), weights_only=True)
    del payload["state_dict"]["layers.1.log_gamma_minus"]
    torch.save(payload, str(path))
    with pytest.raises(SoenFileError, match="gamma_minus.*layers.1.phi_offset"):
        SOENModel.import_original(path)


def test_import_original_needs_the_original_layout(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.ones(2)}, str(path))
    with pytest.raises(SoenFileError, match="layers_config"):
        SOENModel.import_original(path)
