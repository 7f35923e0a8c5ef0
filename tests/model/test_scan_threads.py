"""The compiled scan's batch parts and host memory.

The kernel splits a large scan over the batch: on torch's own OpenMP threads when it finds
the runtime (``run_parts``), else (``SOEN_TRAIN_NATIVE_OPENMP=0``) on worker threads of its
own, or in one part on one thread. All three give the same numbers. ``retain_freed_pages``
keeps freed blocks in the process (so the next scan's histories reuse mapped pages): a freed
8 MiB tensor stays resident with it and goes back to the kernel without it.
"""

import os
import subprocess
import sys

import pytest
import torch

from soen_train.model import SOENModel, native_scan
from soen_train.model.host_memory import SWITCH

pytestmark = pytest.mark.skipif(native_scan.library() is None, reason="no C compiler: no compiled scan")


def _net(width: int) -> dict:
    return {
        "simulation": {"dt": 37.0, "input_type": "state"},
        "layers": [
            {"layer_id": 0, "layer_type": "Input", "params": {"dim": 8}},
            {"layer_id": 1, "layer_type": "SingleDendrite", "params": {
                "dim": width, "source_func": "RateArray", "phi_offset": 0.23,
                "bias_current": {"distribution": "uniform", "params": {"min": 1.7, "max": 2.0}},
                "gamma_plus": 0.001, "gamma_minus": 0.001}},
            {"layer_id": 2, "layer_type": "SingleDendrite", "params": {
                "dim": 3, "source_func": "RateArray", "bias_current": 1.8}},
        ],
        "connections": [
            {"from_layer": 0, "to_layer": 1, "connection_type": "all_to_all", "params": {"init": "xavier_uniform"}},
            {"from_layer": 1, "to_layer": 1, "connection_type": "all_to_all",
             "params": {"init": "uniform", "min": -0.05, "max": 0.05}},
            {"from_layer": 1, "to_layer": 2, "connection_type": "all_to_all", "params": {"init": "xavier_uniform"}},
        ],
    }


def _run(model: SOENModel, x: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    out = model(x)
    out.pow(2).mean().backward()
    return [out.detach()] + [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("width", [40, 130])
def test_openmp_parts_own_threads_and_one_part_agree(monkeypatch, width):
    """Two parts on torch's OpenMP threads, two on our own threads and one part on one
    thread: same outputs and gradients (the split never changes an element's arithmetic; the
    BLAS may round a 2-row block and a 4-row block apart, hence 1e-6)."""
    model = SOENModel.from_yaml(_net(width), seed=width)
    x = torch.rand(32, 20, 8, generator=torch.Generator().manual_seed(width)) * 0.3
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert len(native_scan._rows(32, 20 * 32 * width * width)) == 2, "the scan is split in two parts"
        monkeypatch.setenv(native_scan.OPENMP_SWITCH, "1")
        if native_scan.openmp_pointers() is None:
            pytest.skip("torch was built without OpenMP")
        on_openmp = _run(model, x)
        monkeypatch.setenv(native_scan.OPENMP_SWITCH, "0")
        assert native_scan.openmp_pointers() is None
        on_own_threads = _run(model, x)
        torch.set_num_threads(1)
        one_part = _run(model, x)
    finally:
        torch.set_num_threads(threads)
    for got_a, got_b, want in zip(on_openmp, on_own_threads, one_part):
        scale = max(1.0, float(want.abs().max()))
        assert float((got_a - want).abs().max()) <= 1e-6 * scale
        assert float((got_b - want).abs().max()) <= 1e-6 * scale


_RESIDENT_AFTER_FREE = """
import os, torch
from soen_train.model.host_memory import retain_freed_pages
def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
print(retain_freed_pages())
torch.ones(16).sum()  # torch's lazy set-up, not counted
before = resident_mib()
block = torch.ones(2 * 2**20)  # 8 MiB, above glibc's default mmap threshold
del block
print(resident_mib() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc knobs")
@pytest.mark.parametrize("switch", ["1", "0"])
def test_freed_blocks_stay_resident_only_when_retained(switch):
    """With the default (on) a freed 8 MiB block stays mapped for the next allocation; with
    SOEN_TRAIN_KEEP_HEAP=0 malloc's defaults unmap it at free."""
    env = {**os.environ, SWITCH: switch}
    result = subprocess.run([sys.executable, "-c", _RESIDENT_AFTER_FREE], env=env, capture_output=True,
                            text=True, check=True, timeout=120)
    applied, kept_mib = result.stdout.split()
    assert applied == ("True" if switch == "1" else "False")
    if switch == "1":
        assert float(kept_mib) >= 7.0
    else:
        assert float(kept_mib) <= 1.0
