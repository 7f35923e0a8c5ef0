"""Simulator throughput: soen_train.model against a straightforward per-step reference.

Four networks, CPU, torch.set_num_threads(2):
  (a) 1 -> 5 SingleDendrite (Heaviside_fit_state_dep, internal all_to_all) -> 2, B 64, T 64
  (b) 64 -> 256 SingleDendrite (RateArray) -> 10 SingleDendrite (RateArray), B 64, T 100
  (c) 64 -> 128 SingleDendrite (RateArray, internal all_to_all) -> 10, B 64, T 100
  (d) the shipped MNIST net (conf/arch/mnist_net.yaml): 28 -> 64 (internal) -> 10, B 64, T 28

The reference ("naive") is what one writes first: a Python loop over time steps and, in
each step, over layers; every step computes each layer's flux with a matrix product,
evaluates the source function (RateArray through grid_sample on the shared table, like
the original toolkit) and writes the new state into a preallocated history in place.
Both implementations read the same parameters and must agree numerically (checked).

soen_train is timed twice: with its compiled scan kernel (the default when a C compiler
is available) and with the pure PyTorch scan (SOEN_TRAIN_NATIVE=0). Timings are taken back
to back (naive, compiled, pytorch, naive, ...) and the median is kept, so the ratios stay
meaningful on a shared, noisy machine. "forward" runs under torch.no_grad(); "forward+
backward" is a training step's simulator work (loss = mean squared output).

    python bench/simulate.py [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from soen_train.model import SOENModel, native_scan
from soen_train.model.rate_table import default_rate_table

EXAMPLES = Path(__file__).resolve().parents[1] / "soen_train" / "model" / "examples"
MNIST_NET = Path(__file__).resolve().parents[1] / "conf" / "arch" / "mnist_net.yaml"


def wide_recurrent_arch() -> dict:
    """Case (c): 64 inputs -> 128 RateArray dendrites with an internal all_to_all -> 10."""
    return {
        "simulation": {"dt": 37.0, "input_type": "state"},
        "layers": [
            {"layer_id": 0, "layer_type": "Input", "params": {"dim": 64}},
            {"layer_id": 1, "layer_type": "SingleDendrite", "params": {
                "dim": 128, "source_func": "RateArray", "phi_offset": 0.23,
                "bias_current": {"distribution": "uniform", "params": {"min": 1.7, "max": 2.0}},
                "gamma_plus": 0.001, "gamma_minus": 0.001}},
            {"layer_id": 2, "layer_type": "Input", "params": {"dim": 10}},
        ],
        "connections": [
            {"from_layer": 0, "to_layer": 1, "connection_type": "all_to_all",
             "params": {"init": "xavier_uniform", "constraints": {"min": -0.24, "max": 0.24}}},
            {"from_layer": 1, "to_layer": 1, "connection_type": "all_to_all",
             "params": {"init": "uniform", "min": -0.05, "max": 0.05}},
            {"from_layer": 1, "to_layer": 2, "connection_type": "all_to_all",
             "params": {"init": "xavier_uniform"}},
        ],
    }


def pulse_arch() -> dict:
    """Case (a): 1 -> 5 recurrent Heaviside dendrites -> 2 read-outs."""
    return {
        "simulation": {"dt": 200.0, "input_type": "state"},
        "layers": [
            {"layer_id": 0, "layer_type": "Input", "params": {"dim": 1}},
            {"layer_id": 1, "layer_type": "SingleDendrite", "params": {
                "dim": 5, "source_func": "Heaviside_fit_state_dep", "phi_offset": 0.0214,
                "bias_current": {"distribution": "uniform", "params": {"min": 1.94, "max": 2.012}},
                "gamma_plus": 1.3164e-4, "gamma_minus": 1.07e-8}},
            {"layer_id": 2, "layer_type": "Input", "params": {"dim": 2}},
        ],
        "connections": [
            {"from_layer": 0, "to_layer": 1, "connection_type": "all_to_all",
             "params": {"init": "uniform", "min": 0.173, "max": 0.24}},
            {"from_layer": 1, "to_layer": 1, "connection_type": "all_to_all",
             "params": {"init": "normal", "mean": 0.148, "std": 0.2, "allow_self_connections": False,
                        "constraints": {"min": -0.24, "max": 0.24}}},
            {"from_layer": 1, "to_layer": 2, "connection_type": "one_to_one", "learnable": False,
             "params": {"init": "constant", "value": 1.0}},
        ],
    }


# ----------------------------------------------------------------------------------------
# The straightforward reference
# ----------------------------------------------------------------------------------------


def naive_rate_array(phi: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """RateArray by grid_sample on the shared table (border clamp, corners aligned)."""
    table = default_rate_table()
    grid_table = torch.as_tensor(table.g, dtype=phi.dtype, device=phi.device).view(1, 1, *table.shape)
    wrapped = torch.remainder(phi, 1.0)
    phi_eff = torch.minimum(wrapped, 1.0 - wrapped)
    x = 2.0 * (phi_eff - table.phi_min) / (table.phi[-1] - table.phi_min) - 1.0
    y = 2.0 * (current.abs() - table.ib_min) / (table.ib_max - table.ib_min) - 1.0
    grid = torch.stack([x, y], dim=-1).reshape(1, -1, 1, 2)
    out = F.grid_sample(grid_table, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(phi.shape)


def naive_heaviside(phi: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """The smooth Heaviside fit written out directly."""
    a, b, c, k, m, n, eps = 0.37091212, 0.31903101, 1.06435066, 1.92138556, 2.50322787, 2.62706077, 1e-6
    d = a * torch.clamp(current - c, min=eps) ** k - b * (torch.abs(torch.cos(math.pi * phi)) + eps) ** m
    return torch.sigmoid(100.0 * d) * torch.clamp(d, min=eps) ** (1.0 / n)


NAIVE_SOURCES = {"RateArray": naive_rate_array, "Heaviside_fit_state_dep": naive_heaviside}


def naive_forward(model: SOENModel, x: torch.Tensor) -> torch.Tensor:
    """Per-step loop over layers, each new state written into a preallocated history."""
    batch, steps, _ = x.shape
    ids = model.layer_ids
    dt = model.dt
    history = {lid: x.new_zeros(batch, steps + 1, model.layer(lid).dim) for lid in ids}
    current = {lid: x.new_zeros(batch, model.layer(lid).dim) for lid in ids}
    conns = list(model.connections.values())
    for t in range(steps):
        for lid in ids:
            layer = model.layer(lid)
            if lid == ids[0]:
                new_state = x[:, t]
            else:
                phi = x.new_zeros(batch, layer.dim)
                for conn in conns:
                    if conn.spec.to_layer == lid:
                        phi = phi + current[conn.spec.from_layer] @ (conn.weight * conn.mask).t()
                if layer.layer_type == "Input":
                    new_state = phi
                else:
                    s = current[lid]
                    phi = phi + layer.phi_offset
                    g = NAIVE_SOURCES[layer.options["source_func"]](phi, layer.bias_current - s)
                    new_state = s + dt * (layer.gamma_plus * g - layer.gamma_minus * s)
            current[lid] = new_state
            history[lid][:, t + 1] = new_state
    return history[ids[-1]]


# ----------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------


def _time_once(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _ours(model: SOENModel, x: torch.Tensor, native: bool) -> torch.Tensor:
    os.environ[native_scan.ENV_SWITCH] = "1" if native else "0"
    try:
        return model(x)
    finally:
        os.environ[native_scan.ENV_SWITCH] = "1"


IMPLEMENTATIONS = {
    "naive": naive_forward,
    "compiled": lambda m, x: _ours(m, x, True),
    "pytorch": lambda m, x: _ours(m, x, False),
}


def measure(model: SOENModel, x: torch.Tensor, repeats: int, names: list[str]
            ) -> dict[str, dict[str, float]]:
    """Median seconds per call, {forward, forward+backward} x implementation, interleaved."""
    def fwd(impl):
        def run():
            with torch.no_grad():
                impl(model, x)
        return run

    def fwd_bwd(impl):
        def run():
            model.zero_grad(set_to_none=True)
            out = impl(model, x)
            out[:, 1:].pow(2).mean().backward()
        return run

    results: dict[str, dict[str, float]] = {}
    for label, wrap in (("forward", fwd), ("forward+backward", fwd_bwd)):
        runners = {name: wrap(IMPLEMENTATIONS[name]) for name in names}
        for run in runners.values():
            run()  # warm-up
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeats):
            for name, run in runners.items():
                times[name].append(_time_once(run))
        results[label] = {name: statistics.median(values) for name, values in times.items()}
    return results


def check_agreement(model: SOENModel, x: torch.Tensor, impl: Callable) -> tuple[float, float]:
    """(max |output difference|, max |gradient difference|) between naive and ``impl``."""
    grads = []
    outs = []
    for run in (naive_forward, impl):
        model.zero_grad(set_to_none=True)
        out = run(model, x)
        out[:, 1:].pow(2).mean().backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]))
    return float((outs[0] - outs[1]).abs().max()), float((grads[0] - grads[1]).abs().max())


def bench_cases() -> list[tuple[str, SOENModel, int, int, float]]:
    """(title, model, batch, T, input scale) of cases (a)-(d); bench/gpu.py reuses (b)-(d)."""
    return [
        ("(a) 1->5 SD Heaviside + internal all_to_all ->2", SOENModel.from_yaml(pulse_arch(), seed=1),
         64, 64, 0.5),
        ("(b) 64->256 SD RateArray ->10 SD RateArray", SOENModel.from_yaml(
            EXAMPLES / "dendrite_64_256_10.yaml", seed=1), 64, 100, 0.3),
        ("(c) 64->128 SD RateArray + internal all_to_all ->10", SOENModel.from_yaml(
            wide_recurrent_arch(), seed=1), 64, 100, 0.3),
        ("(d) MNIST net 28->64 SD RateArray + internal ->10", SOENModel.from_yaml(MNIST_NET, seed=1),
         64, 28, 0.3),
    ]


def main() -> None:
    """Run both cases and print samples/s and speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per implementation")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--cases", default="abcd", help="which cases to run, e.g. 'cd'")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = bench_cases()
    names = ["naive", "pytorch"]
    if native_scan.library() is not None:
        names.insert(1, "compiled")
    else:
        print(f"compiled scan unavailable ({native_scan.build_error()}); timing the PyTorch scan only")
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, repeats={args.repeats} (median)")
    for title, model, batch, steps, scale in cases:
        if title[1] not in args.cases:
            continue
        x = torch.rand(batch, steps, model.input_dim) * scale
        print(f"\n{title}: batch {batch}, T {steps}")
        for name in names[1:]:
            out_diff, grad_diff = check_agreement(model, x, IMPLEMENTATIONS[name])
            print(f"  {name} vs naive: max|dy| = {out_diff:.2e}, max|dgrad| = {grad_diff:.2e}")
        for label, seconds in measure(model, x, args.repeats, names).items():
            line = f"  {label:17s} naive {batch / seconds['naive']:9.1f} samples/s"
            for name in names[1:]:
                line += (f" | {name} {batch / seconds[name]:9.1f} samples/s "
                         f"({seconds['naive'] / seconds[name]:5.1f}x)")
            print(line)


if __name__ == "__main__":
    main()
