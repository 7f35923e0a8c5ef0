"""Model files: safe .soen round trip and refusal of malicious pickles (original import: test_original_import.py)."""

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
    conns = [conn(0, 1, "sparse", sparsity=0.7, init="xavier_uniform"),
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
