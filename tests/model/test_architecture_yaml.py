"""Reading architecture YAMLs: the original format, lenient values, strict keys, seeds."""

import copy
from pathlib import Path

import pytest
import torch
import yaml
from soen_model_builders import arch, conn, feed_forward, layer

from soen_train.model import ArchitectureError, SOENModel, read_architecture

EXAMPLES = Path(__file__).resolve().parents[2] / "soen_train" / "model" / "examples"


@pytest.mark.parametrize("name", ["pulse_net", "dendrite_64_256_10", "feedback_net"])
def test_shipped_examples_build_and_run(name):
    model = SOENModel.from_yaml(EXAMPLES / f"{name}.yaml", seed=0)
    x = torch.rand(2, 5, model.input_dim)
    assert model(x).shape == (2, 6, model.output_dim)


def test_pulse_net_matches_the_tutorial_description():
    model = SOENModel.from_yaml(EXAMPLES / "pulse_net.yaml", seed=1)
    assert model.layer_ids == [0, 1, 2] and model.input_dim == 1 and model.output_dim == 2
    assert model.dt == 200.0
    dendrite = model.layer(1)
    assert dendrite.options["source_func"] == "Heaviside_fit_state_dep"
    assert not any(p.requires_grad for p in dendrite.parameters())
    assert torch.all((dendrite.bias_current >= 1.94) & (dendrite.bias_current <= 2.012))
    learnable = {name for name, w in model.connection_weights().items()}
    assert learnable == {"0_to_1", "1_to_1"}
    recurrent = model.connection("1_to_1").masked_weight()
    assert torch.all(recurrent.diagonal() == 0) and recurrent.abs().max() <= 0.24
    readout = model.connection("J_1_to_2").masked_weight()
    assert torch.equal(readout, torch.tensor([[1.0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0]]))


def test_string_booleans_and_numeric_strings_are_accepted(tmp_path):
    text = """
simulation: {dt: '1e2', dt_learnable: 'False', input_type: state, track_phi: 'True'}
layers:
  - {layer_id: 0, layer_type: Input, params: {dim: '2'}}
  - layer_id: 1
    layer_type: SingleDendrite
    params:
      dim: 3
      gamma_plus: '1e-3'
      learnable_params: {gamma_plus: 'true'}
connections:
  - {from_layer: 0, to_layer: 1, connection_type: dense, learnable: 'False',
     params: {init: constant, value: '0.1', allow_self_connections: 'no'}}
"""
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    model = SOENModel.from_yaml(path)
    assert model.dt == 100.0 and model.architecture.simulation.track_phi is True
    assert model.layer(1).gamma_plus.requires_grad
    assert torch.allclose(model.layer(1).gamma_plus, torch.full((3,), 1e-3))
    assert not model.connection("0_to_1").weight.requires_grad
    assert model.connection_weights(learnable_only=True) == {}


@pytest.mark.parametrize("mutate,message", [
    (lambda a: a.update(simulaton={}), "unknown key 'simulaton' (did you mean 'simulation'?)"),
    (lambda a: a["simulation"].update(input_typ="flux"), "did you mean 'input_type'"),
    (lambda a: a["layers"][1]["params"].update(bias_curent=1.8), "did you mean 'bias_current'"),
    (lambda a: a["layers"][1].update(noize={}), "did you mean 'noise'"),
    (lambda a: a["layers"][1].update(noise={"ph": 0.1}), "did you mean 'phi'"),
    (lambda a: a["layers"][1].update(perturb={"phi_sd": 0.1}), "did you mean 'phi_std'"),
    (lambda a: a["connections"][0]["params"].update(maxx=0.2), "did you mean 'max'"),
    (lambda a: (a["connections"][0].update(connection_type="sparse"),
                a["connections"][0]["params"].update(sparsty=0.5)), "did you mean 'sparsity'"),
    (lambda a: a["connections"][0].update(from_layr=0), "did you mean 'from_layer'"),
    (lambda a: a["layers"][1].update(layer_type="SingleDendrit"), "did you mean 'SingleDendrite'"),
    (lambda a: a["layers"][1]["params"].update(source_func="Ratearray"), "did you mean 'RateArray'"),
    (lambda a: a["connections"][0].update(connection_type="all2all"), "valid names"),
    (lambda a: a["connections"][0]["params"].update(init="xavier"), "did you mean 'xavier_normal'"),
    (lambda a: a["layers"][1]["params"].update(bias_current={"distribution": "unifrom"}), "did you mean 'uniform'"),
    (lambda a: a["layers"][1]["params"].update(bias_current={"distribution": "uniform", "params": {"mn": 1}}),
     "did you mean 'min'"),
])
def test_unknown_keys_and_names_are_reported_with_the_closest_valid_one(mutate, message):
    spec = feed_forward()
    mutate(spec)
    with pytest.raises(ArchitectureError) as err:
        read_architecture(spec)
    assert message in str(err.value)


@pytest.mark.parametrize("mutate,message", [
    (lambda a: a["layers"][1]["params"].pop("dim"), "missing required key 'dim'"),
    (lambda a: a["layers"][2].update(layer_id=1), "duplicate layer_id [1]"),
    (lambda a: a["connections"].append(conn(0, 9)), "layer 9 does not exist"),
    (lambda a: a["connections"].append(conn(0, 1)), "given twice"),
    (lambda a: a["simulation"].update(dt=0), "dt must be > 0"),
    (lambda a: a["simulation"].update(input_type="voltage"), "'voltage' is not valid"),
    (lambda a: a["simulation"].update(network_evaluation_method="rk4"), "stepwise_jacobi"),
    (lambda a: a["simulation"].update(track_power=True), "power tracking is not available"),
    (lambda a: a["layers"][1]["params"].update(solver="RK45"), "solver 'RK45' is not valid"),
    (lambda a: a["layers"][1]["params"].update(dim=0), "must be >= 1"),
    (lambda a: a["layers"][1]["params"].update(gamma_plus="fast"), "expected a number, got 'fast'"),
    (lambda a: a["connections"][0]["params"].update(mode="wicc"), "invalid connection mode 'wicc'"),
    (lambda a: a["connections"][0]["params"].update(mode="RK4"), "valid modes: fixed, WICC, NOCC"),
    (lambda a: a["connections"][0].update(noise={"phi": 0.1}), "only take noise on 'j'"),
    (lambda a: a["layers"][1]["params"].update(polarity=[1, -1]), "need 4 values"),
    (lambda a: a.update(layers="none"), "non-empty list"),
])
def test_invalid_values_are_clear_errors(mutate, message):
    spec = feed_forward()
    mutate(spec)
    with pytest.raises(ArchitectureError) as err:
        read_architecture(spec)
    assert message in str(err.value)


def test_yaml_file_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("layers: [\n")
    with pytest.raises(ArchitectureError, match="broken.yaml"):
        SOENModel.from_yaml(path)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        SOENModel.from_yaml(tmp_path / "missing.yaml")


def test_structured_connection_form_is_read():
    spec = feed_forward()
    spec["connections"][0]["params"] = {
        "structure": {"type": "sparse", "params": {"sparsity": 0.5}},
        "init": {"name": "uniform", "params": {"a": 0.1, "b": 0.2}},
        "constraints": {"min": 0.0, "max": 0.15},
    }
    model = SOENModel.from_yaml(spec, seed=3)
    conn0 = model.connection("0_to_1")
    assert conn0.spec.pattern == "sparse"
    weights = conn0.masked_weight()[conn0.mask.bool()]
    assert torch.all((weights >= 0.1) & (weights <= 0.15))


def test_same_seed_gives_bit_identical_models_and_seed_argument_wins():
    spec = feed_forward(internal=True)
    spec["seed"] = 11
    a, b = SOENModel.from_yaml(spec, seed=5), SOENModel.from_yaml(spec, seed=5)
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(ta, tb), name
    c = SOENModel.from_yaml(spec, seed=6)
    assert not torch.equal(a.connection("0_to_1").weight, c.connection("0_to_1").weight)
    from_yaml_seed = SOENModel.from_yaml(spec)
    explicit_11 = SOENModel.from_yaml(spec, seed=11)
    assert torch.equal(from_yaml_seed.connection("1_to_1").weight, explicit_11.connection("1_to_1").weight)
    assert a.spec["seed"] == 5


def test_spec_rebuilds_the_same_model():
    spec = feed_forward(internal=True)
    spec["layers"][1]["params"]["polarity_init"] = "alternating"
    original = SOENModel.from_yaml(spec, seed=8)
    written = original.spec
    yaml.safe_load(yaml.safe_dump(written))  # YAML-compatible plain data
    rebuilt = SOENModel.from_yaml(copy.deepcopy(written))
    assert rebuilt.spec == written
    for ta, tb in zip(original.state_dict().values(), rebuilt.state_dict().values()):
        assert torch.equal(ta, tb)


def test_sim_config_alias_and_simulation_seed():
    spec = arch([layer(0, "Input", 2), layer(1, "SingleDendrite", 2)], [conn(0, 1)])
    spec["sim_config"] = dict(spec.pop("simulation"), seed=4)
    model = SOENModel.from_yaml(spec)
    assert model.architecture.seed == 4
    spec["simulation"] = {}
    with pytest.raises(ArchitectureError, match="not both"):
        read_architecture(spec)
