"""Parity with the original SOEN toolkit on the fixture cases it computed (tests/fixtures/parity).

Each case holds the original's architecture (``spec.yaml``), its saved model (``model.soen``)
and, in ``arrays.npz``, the input it ran, the output and every layer's state history, every
state_dict tensor (``state/<name>``, with ``state_alias/<name>`` naming an identical entry)
and the masks (``mask/J_<a>_to_<b>``). For every case the original could run we check two
ways of getting its model:

1. ``SOENModel.import_original(model.soen)`` (the file exactly as the original wrote it);
2. ``SOENModel.from_yaml(spec.yaml)`` and the original's tensors and masks copied in.

Both run ``input`` in eval mode (float32) and every ``s/<id>`` and the output must be within
1e-5 absolute of the original. The original's own float32-vs-float64 difference is at most
5.2e-6 on every case (manifest ``fp32_vs_fp64_original``), so no case needs the float64
comparison; the test checks that this stays true. Cases the original refuses must be
refused by us as well, with an error naming the cause.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from soen_train.errors import SOENError
from soen_train.model import SOENModel
from soen_train.model.original_import import load_original_state

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "parity"
MANIFEST = json.loads((CASES / "manifest.json").read_text())["cases"]
OK_CASES = [c for c in MANIFEST if c["status"] == "ok"]
REFUSED_CASES = [c for c in MANIFEST if c["status"] != "ok"]
ATOL = 1e-5
#: Cases whose own float32/float64 difference in the original exceeds float32 tolerance.
FLOAT64_CASES: frozenset[str] = frozenset()


def case_ids(cases: list[dict]) -> list[str]:
    return [c["case"] for c in cases]


def load_arrays(name: str) -> dict[str, np.ndarray]:
    with np.load(CASES / name / "arrays.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def original_state(arrays: dict[str, np.ndarray]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The original's state_dict (aliases expanded to their tensor) and its masks."""
    state = {k[len("state/"):]: torch.from_numpy(v.copy()) for k, v in arrays.items()
             if k.startswith("state/")}
    for key, target in arrays.items():
        if key.startswith("state_alias/"):
            state[key[len("state_alias/"):]] = state[str(target)]
    masks = {k[len("mask/"):]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("mask/")}
    return state, masks


def run_eval(model: SOENModel, x: np.ndarray) -> dict[str, np.ndarray]:
    model.eval()
    with torch.no_grad():
        result = model.simulate(torch.from_numpy(x.copy()))
    out = {f"s/{lid}": hist.numpy() for lid, hist in result.states.items()}
    out["output"] = result.output.numpy()
    return out


def assert_matches(ours: dict[str, np.ndarray], arrays: dict[str, np.ndarray], case: str) -> None:
    expected = sorted(k for k in arrays if k == "output" or k.startswith("s/"))
    assert expected, f"{case}: fixture has no histories"
    worst = {}
    for key in expected:
        assert key in ours, f"{case}: we produce no {key} (ours: {sorted(ours)})"
        assert ours[key].shape == arrays[key].shape, (
            f"{case} {key}: shape {ours[key].shape} vs the original's {arrays[key].shape}")
        worst[key] = float(np.max(np.abs(ours[key].astype(np.float64) - arrays[key].astype(np.float64))))
    bad = {k: v for k, v in worst.items() if not v <= ATOL}
    assert not bad, f"{case}: max |ours - original| above {ATOL}: {bad}"


def quiet(fn, *args):
    """Build without letting the original-format warnings (asserted elsewhere) flood the log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def test_manifest_covers_every_case_folder():
    folders = sorted(p.name for p in CASES.iterdir() if p.is_dir())
    assert folders == sorted(case_ids(MANIFEST))
    assert len(MANIFEST) == 49 and len(OK_CASES) == 47


def test_float32_tolerance_is_above_the_originals_own_rounding():
    """1e-5 in float32 is meaningful only where the original's fp32 and fp64 runs agree closer."""
    noisy = {c["case"] for c in OK_CASES
             if max(c["fp32_vs_fp64_original"].values()) > ATOL}
    assert noisy == set(FLOAT64_CASES)


@pytest.mark.parametrize("case", OK_CASES, ids=case_ids(OK_CASES))
def test_imported_original_file_matches(case):
    name = case["case"]
    arrays = load_arrays(name)
    model = quiet(SOENModel.import_original, CASES / name / "model.soen")
    assert_matches(run_eval(model, arrays["input"]), arrays, name)


@pytest.mark.parametrize("case", OK_CASES, ids=case_ids(OK_CASES))
def test_spec_with_original_tensors_matches(case):
    name = case["case"]
    arrays = load_arrays(name)
    model = quiet(SOENModel.from_yaml, CASES / name / "spec.yaml")
    state, masks = original_state(arrays)
    load_original_state(model, state, masks, where=name)
    assert_matches(run_eval(model, arrays["input"]), arrays, name)


#: What our refusal must mention for each case the original refuses.
REFUSAL_WORDS = {
    "layer_Synapse": "Synapse",
    "solver_PS_RateArray": "RateArray",
}


@pytest.mark.parametrize("case", REFUSED_CASES, ids=case_ids(REFUSED_CASES))
def test_cases_the_original_refuses_are_refused(case):
    name = case["case"]
    assert name in REFUSAL_WORDS, f"new refused case {name}: add the word its error must name"
    with pytest.raises((SOENError, ValueError)) as info:
        quiet(SOENModel.from_yaml, CASES / name / "spec.yaml")
    message = str(info.value)
    assert REFUSAL_WORDS[name] in message, message
    assert "\n" not in message.strip(), f"error should be one line: {message!r}"
