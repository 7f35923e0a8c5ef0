"""Stepwise evaluation: batched over time (the default) against the per-step loop.

Nets, CPU, torch.set_num_threads(2), batch 64:
  (d-gs)  the shipped MNIST net (conf/arch/mnist_net.yaml), 28 -> 64 (internal) -> 10, T 28,
          run with network_evaluation_method: stepwise_gauss_seidel
  (d-j)   the same with stepwise_jacobi
  (cycle) 28 -> 64 -> 64 -> 10 RateArray dendrites with feedback 2 -> 1 (a cycle the two
          hidden layers step through together; input and read-out are batched), T 28

"batched" is `run_stepwise` (each layer on no cycle over the whole sequence, on its fused
scan); "loop" is `run_stepwise_reference` (every layer, every step). Timings interleave the
two and keep the median; "forward" runs under torch.no_grad(), "forward+backward" is one
training step's simulator work.

    python bench/stepwise.py [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch
import yaml

from soen_train.model import SOENModel, evaluation

MNIST_NET = Path(__file__).resolve().parents[1] / "conf" / "arch" / "mnist_net.yaml"
BATCH, STEPS = 64, 28


def mnist_stepwise(method: str) -> dict:
    """The shipped MNIST net with a stepwise evaluation method."""
    spec = yaml.safe_load(MNIST_NET.read_text())
    spec["simulation"]["network_evaluation_method"] = method
    return spec


def feedback_cycle() -> dict:
    """Two hidden RateArray layers in a feedback cycle between a batched input and read-out."""
    spec = mnist_stepwise("stepwise_gauss_seidel")
    hidden = copy.deepcopy(spec["layers"][1])
    spec["layers"] = [spec["layers"][0], spec["layers"][1], {**hidden, "layer_id": 2},
                      {**spec["layers"][2], "layer_id": 3}]
    dense = {"connection_type": "all_to_all", "learnable": True,
             "params": {"init": "uniform", "min": -0.1, "max": 0.1}}
    spec["connections"] = [{"from_layer": a, "to_layer": b, **dense}
                           for a, b in ((0, 1), (1, 2), (2, 1), (2, 3))]
    return spec


def _seconds(model: SOENModel, x: torch.Tensor, batched: bool, backward: bool) -> float:
    saved = evaluation.run_stepwise
    if not batched:
        evaluation.run_stepwise = evaluation.run_stepwise_reference
    try:
        start = time.perf_counter()
        if backward:
            model.zero_grad(set_to_none=True)
            model(x)[:, 1:].pow(2).mean().backward()
        else:
            with torch.no_grad():
                model(x)
        return time.perf_counter() - start
    finally:
        evaluation.run_stepwise = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nets = {"d-gs": mnist_stepwise("stepwise_gauss_seidel"), "d-j": mnist_stepwise("stepwise_jacobi"),
            "cycle": feedback_cycle()}
    print(f"{'net':<7} {'pass':<17} {'loop samples/s':>15} {'batched samples/s':>18} {'speed-up':>9}")
    for name, spec in nets.items():
        model = SOENModel.from_yaml(spec, seed=0)
        x = torch.rand(BATCH, STEPS, 28, generator=torch.Generator().manual_seed(0))
        for backward in (False, True):
            for batched in (False, True):  # warm-up
                _seconds(model, x, batched, backward)
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeats):
                for batched in (False, True):
                    times[batched].append(_seconds(model, x, batched, backward))
            loop, fast = (statistics.median(times[b]) for b in (False, True))
            label = "forward+backward" if backward else "forward"
            print(f"{name:<7} {label:<17} {BATCH / loop:>15.0f} {BATCH / fast:>18.0f} {loop / fast:>8.1f}x")


if __name__ == "__main__":
    main()
