"""Importing the original toolkit's .soen: safe reading, every tensor placed, refusals by name.

The files are the original's own (tests/fixtures/parity/<case>/model.soen), read back with
our reader and re-saved with torch.save after a targeted change where a test needs one.
"""

from __future__ import annotations

import builtins
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from soen_train.model import SoenFileError, SOENModel
from soen_train.model.original_import import read_original_file
from soen_train.model.original_unpickler import UnsafeFileError, read_torch_file

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "parity"


def original(case: str) -> dict:
    return read_original_file(CASES / case / "model.soen")


def resave(tmp_path: Path, data: dict, name: str = "edited.soen") -> Path:
    path = tmp_path / name
    torch.save(data, str(path))
    return path


def run(model: SOENModel, case: str) -> np.ndarray:
    with np.load(CASES / case / "arrays.npz", allow_pickle=False) as arrays:
        x = torch.from_numpy(arrays["input"].copy())
    model.eval()
    with torch.no_grad():
        return model(x).numpy()


def test_reader_gives_what_torch_weights_only_gives():
    path = CASES / "mixed_tracking" / "model.soen"
    ours, theirs = read_torch_file(path), torch.load(str(path), weights_only=True)
    assert ours.keys() == theirs.keys()
    assert ours["layers_config"] == theirs["layers_config"]
    assert ours["state_dict"].keys() == theirs["state_dict"].keys()
    for name, value in theirs["state_dict"].items():
        assert ours["state_dict"][name].dtype == value.dtype
        assert torch.equal(ours["state_dict"][name], value), name


def test_every_saved_tensor_lands_in_the_model():
    data = original("sd_recurrent")
    state = data["state_dict"]
    model = SOENModel.import_original(CASES / "sd_recurrent" / "model.soen")
    dendrite = model.layer(1)
    assert torch.equal(dendrite.phi_offset, state["layers.1.phi_offset"])
    assert torch.equal(dendrite.bias_current, state["layers.1.bias_current"])
    assert torch.allclose(dendrite.gamma_plus, state["layers.1.log_gamma_plus"].exp(), rtol=1e-6)
    # The three copies of the internal connection became one connection.
    assert torch.equal(model.connection("1_to_1").weight, state["connections.J_1_to_1"])
    assert torch.equal(model.connection("1_to_1").weight, state["layers.1.connectivity.weight"])
    for name in ("0_to_1", "1_to_2"):
        assert torch.equal(model.connection(name).weight, state[f"connections.J_{name}"])
        assert torch.equal(model.connection(name).mask, data["connection_masks"][f"J_{name}"])
    assert model.dt == 37.0


def test_import_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    SOENModel.import_original(CASES / "conn_sparse" / "model.soen")
    assert torch.equal(torch.rand(3), expected)


def test_saved_masks_replace_the_rebuilt_ones(tmp_path):
    """The original replaces its rebuilt (re-drawn) masks by the saved ones; so do we."""
    data = original("sd_RateArray")
    mask = torch.ones(6, 3)
    mask[0, 0] = mask[4, 2] = 0.0
    data["connection_masks"]["J_0_to_1"] = mask
    model = SOENModel.import_original(resave(tmp_path, data))
    assert torch.equal(model.connection("0_to_1").mask, mask)
    expected = data["state_dict"]["connections.J_0_to_1"] * mask
    assert torch.equal(model.connection("0_to_1").weight, expected)


def test_an_unplaceable_tensor_is_refused_by_name(tmp_path):
    data = original("sd_RateArray")
    data["state_dict"]["layers.1.mystery_gain"] = torch.ones(6)
    with pytest.raises(SoenFileError, match=r"layers\.1\.mystery_gain|mystery_gain"):
        SOENModel.import_original(resave(tmp_path, data))


def test_a_tensor_of_no_layer_or_connection_is_refused(tmp_path):
    data = original("sd_RateArray")
    data["state_dict"]["readout.weight"] = torch.ones(2, 2)
    data["state_dict"]["connections.J_2_to_0"] = torch.ones(3, 2)
    with pytest.raises(SoenFileError, match=r"connection 2->0|readout\.weight"):
        SOENModel.import_original(resave(tmp_path, data))


def test_a_missing_parameter_is_refused_by_name(tmp_path):
    data = original("sd_RateArray")
    del data["state_dict"]["layers.2.log_gamma_minus"]
    with pytest.raises(SoenFileError, match="gamma_minus"):
        SOENModel.import_original(resave(tmp_path, data))


def test_missing_connection_weights_are_refused(tmp_path):
    data = original("sd_RateArray")
    del data["state_dict"]["connections.J_1_to_2"]
    with pytest.raises(SoenFileError, match="1_to_2"):
        SOENModel.import_original(resave(tmp_path, data))


def test_disagreeing_internal_copies_are_refused(tmp_path):
    data = original("sd_recurrent")
    data["state_dict"]["layers.1.connectivity.weight"] = data["state_dict"]["connections.J_1_to_1"] + 0.1
    with pytest.raises(SoenFileError, match=r"connection 1->1.*differ"):
        SOENModel.import_original(resave(tmp_path, data))


def test_a_wrong_shape_is_refused(tmp_path):
    data = original("sd_RateArray")
    data["connection_masks"]["J_0_to_1"] = torch.ones(3, 6)
    with pytest.raises(SoenFileError, match=r"J_0_to_1.*shape"):
        SOENModel.import_original(resave(tmp_path, data))


def test_legacy_names_of_older_files_load(tmp_path):
    """connections.internal_<id>, layers.<i>.internal_J and un-prefixed module tokens."""
    data = original("sd_recurrent")
    state = data["state_dict"]
    reference = run(SOENModel.import_original(CASES / "sd_recurrent" / "model.soen"), "sd_recurrent")
    state["connections.internal_1"] = state.pop("connections.J_1_to_1")
    state["layers.1.internal_J"] = state.pop("layers.1.connectivity.weight")
    state.pop("layers.1.internal_connectivity.weight")
    for key in [k for k in state if k.endswith("g_table")]:
        state[key.replace("_source_function", "source_function").replace("_dynamics", "dynamics")
              .replace("_solver", "solver")] = state.pop(key)
    model = SOENModel.import_original(resave(tmp_path, data))
    np.testing.assert_array_equal(run(model, "sd_recurrent"), reference)


def test_learnable_dt_is_restored(tmp_path):
    data = original("sd_Tanh")
    data["dt_learnable"] = True
    data["sim_config"]["dt_learnable"] = True
    data["dt"] = 41.5
    data["state_dict"]["dt"] = torch.tensor(41.5)
    model = SOENModel.import_original(resave(tmp_path, data))
    assert model.dt == pytest.approx(41.5)
    assert model.parameters_by_name()["dt"].requires_grad


def test_code_in_the_pickle_never_runs(tmp_path):
    marker = tmp_path / "ran.txt"

    class Trap:
        def __reduce__(self):
            return (builtins.open, (str(marker), "w"))

    data = original("sd_RateArray")
    data["metadata"]["note"] = Trap()
    path = resave(tmp_path, data)
    with pytest.raises(SoenFileError, match=r"refused to load.*io\.open"):
        SOENModel.import_original(path)
    with pytest.raises(UnsafeFileError, match=r"io\.open"):
        read_torch_file(path)
    assert not marker.exists()


def test_numpy_objects_in_params_are_refused_by_name(tmp_path):
    """The original lets users put NumPy values in params; such files are not weights-only safe."""
    data = original("sd_RateArray")
    data["layers_config"][1]["params"]["bias_current"] = np.float64(1.8)
    with pytest.raises(SoenFileError, match=r"numpy"):
        SOENModel.import_original(resave(tmp_path, data))


def test_unknown_top_level_entries(tmp_path):
    data = original("sd_RateArray")
    data["notes_from_user"] = "trained on run 7"
    with pytest.warns(UserWarning, match="notes_from_user"):
        SOENModel.import_original(resave(tmp_path, data, "a.soen"))
    data["extra_weights"] = {"w": torch.ones(2)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SoenFileError, match="extra_weights"):
            SOENModel.import_original(resave(tmp_path, data, "b.soen"))


def test_files_that_are_not_original_models(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.ones(2)}, str(path))
    with pytest.raises(SoenFileError, match="layers_config"):
        SOENModel.import_original(path)
    junk = tmp_path / "junk.soen"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SoenFileError):
        SOENModel.import_original(junk)
    with pytest.raises(FileNotFoundError):
        SOENModel.import_original(tmp_path / "absent.soen")


def test_storage_bytes_must_match_the_record(tmp_path):
    """A tampered archive whose blob is shorter than its tensor record is refused, not read past."""
    src = CASES / "sd_Tanh" / "model.soen"
    path = tmp_path / "short.soen"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        blobs = [n for n in zin.namelist() if "/data/" in n]
        for item in zin.infolist():
            body = zin.read(item.filename)
            if item.filename == blobs[0]:
                body = body[:-4]
            zout.writestr(item, body)
    with pytest.raises(SoenFileError, match="bytes"):
        SOENModel.import_original(path)


def _blank_noise() -> tuple[dict, dict]:
    noise = {"phi": 0.0, "g": 0.0, "s": 0.0, "bias_current": 0.0, "j": 0.0, "relative": False, "extras": {}}
    perturb = {f"{k}_{s}": 0.0 for k in ("phi", "g", "s", "bias_current", "j") for s in ("mean", "std")}
    perturb.update(extras_mean={}, extras_std={})
    return noise, perturb


def wicc_edge_file(path: Path, mask: torch.Tensor) -> Path:
    """Input(1) -> Linear(2) through a dense WICC edge connection (J = 0.2), as the original saves it."""
    noise, perturb = _blank_noise()
    sim = {"dt": 37.0, "dt_learnable": False, "input_type": "state", "track_power": False,
           "track_phi": False, "track_g": False, "track_s": False, "network_evaluation_method": "layerwise",
           "early_stopping_forward_pass": False, "early_stopping_tolerance": 1e-6, "early_stopping_patience": 1,
           "early_stopping_min_steps": 1, "steady_window_min": 50, "steady_tol_abs": 1e-5, "steady_tol_rel": 1e-3}
    layers = [{"layer_id": i, "layer_type": kind, "params": {"dim": dim}, "model_id": 0, "description": "",
               "noise": noise, "perturb": perturb} for i, kind, dim in ((0, "Input", 1), (1, "Linear", 2))]
    conns = [{"from_layer": 0, "to_layer": 1, "connection_type": "dense",
              "params": {"structure": {"type": "dense", "params": {}},
                         "init": {"name": "constant", "params": {"value": 0.2}}, "mode": "WICC"},
              "learnable": True, "noise": noise, "perturb": perturb, "visualization_metadata": None}]
    state = {"layers.0._dt": torch.tensor(37.0), "layers.1._dt": torch.tensor(37.0),
             "connections.J_0_to_1": torch.full((2, 1), 0.2) * mask}
    torch.save({"state_dict": state, "sim_config": sim, "layers_config": layers, "connections_config": conns,
                "connection_masks": {"J_0_to_1": mask}, "dt": 37.0, "dt_learnable": False,
                "model_type": "SOENModelCore", "metadata": {}}, str(path))
    return path


def test_dynamic_edges_follow_the_saved_mask(tmp_path):
    """The edge list comes from the saved mask, not from the rebuilt (here: dense) pattern.

    Node 0 keeps its one WICC edge (auto j_out for N = 1 is 0.666667) and must follow the
    original's history for x = 0.3, J = 0.2, dt 37; node 1 has no edge left and gets no flux.
    """
    mask = torch.tensor([[1.0], [0.0]])
    model = SOENModel.import_original(wicc_edge_file(tmp_path / "edge.soen", mask))
    assert torch.equal(model.connection("0_to_1").mask, mask)
    model.eval()
    with torch.no_grad():
        out = model(torch.full((1, 4, 1), 0.3))[0]
    original_node0 = torch.tensor([0.0, 0.00815181, 0.0152539, 0.0214788, 0.0269551])
    assert torch.allclose(out[:, 0], original_node0, atol=1e-6)
    assert torch.equal(out[:, 1], torch.zeros(5))


def test_either_kind_of_soen_file_loads(tmp_path):
    from soen_train.model.soen_load import load_any_model

    original_file = CASES / "sd_Tanh" / "model.soen"
    imported = load_any_model(original_file)
    reference = run(SOENModel.import_original(original_file), "sd_Tanh")
    np.testing.assert_array_equal(run(imported, "sd_Tanh"), reference)
    ours = imported.save(tmp_path / "ours.soen")
    np.testing.assert_array_equal(run(load_any_model(ours), "sd_Tanh"), reference)


def test_training_can_start_from_an_original_file():
    """`soen-train model.base_model_path=<original .soen> model.load_exact_model_state=true`."""
    from soen_train.training.model_factory import build_model

    case = "wicc_rate_internal"
    model = build_model(str(CASES / case / "model.soen"), True, None, None, seed=3)
    with np.load(CASES / case / "arrays.npz", allow_pickle=False) as arrays:
        expected = arrays["output"]
    assert np.max(np.abs(run(model, case) - expected)) <= 1e-5
