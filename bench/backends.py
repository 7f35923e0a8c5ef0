"""Backend throughput: forward+backward samples/s of the torch simulator and its JAX twin.

The two networks of ``bench/simulate.py`` (same builders, same seeds), CPU:
  (a) 1 -> 5 SingleDendrite (Heaviside_fit_state_dep, internal all_to_all) -> 2, B 64, T 64
  (b) 64 -> 256 SingleDendrite (RateArray) -> 10 SingleDendrite (RateArray), B 64, T 100

Each step computes loss = mean(output[:, 1:]^2) and its gradient with respect to every
trainable parameter (what one training step costs, optimiser excluded). JAX runs one
``jax.jit``-compiled ``value_and_grad``; its compile time is measured separately (trace +
XLA compile of the first call) and excluded from samples/s. Torch and JAX are timed back
to back (torch, jax, torch, jax, ...) and the median is kept, so the ratio stays
meaningful on a shared machine. Both must agree (loss and gradients, printed, with a float64
torch run as the reference that shows how much of any difference is float32 rounding).

    python bench/backends.py [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate import EXAMPLES, pulse_arch  # noqa: E402  (the networks of bench/simulate.py)

from soen_train.model import SOENModel  # noqa: E402


def torch_step(model: SOENModel, x: torch.Tensor) -> Callable[[], float]:
    """One forward+backward of the torch model; returns the loss."""

    def run() -> float:
        model.zero_grad(set_to_none=True)
        loss = model(x)[:, 1:].pow(2).mean()
        loss.backward()
        return float(loss.detach())

    return run


def jax_step(
    model: SOENModel, x: torch.Tensor
) -> Tuple[Callable[[], float], float, Callable[[], Dict]]:
    """(one jitted forward+backward, compile seconds, gradient getter) of the JAX twin."""
    import jax
    import jax.numpy as jnp

    from soen_train.jax import JaxSOEN

    jax_model, params = JaxSOEN.from_torch(model)
    trainable, frozen = jax_model.split(params)
    xj = jnp.asarray(x.numpy())

    def loss_fn(tr, fr, inputs):
        out = jax_model.simulate_traced({**tr, **fr}, inputs).states[jax_model.output_layer]
        return jnp.mean(out[:, 1:] ** 2)

    started = time.perf_counter()
    compiled = jax.jit(jax.value_and_grad(loss_fn)).lower(trainable, frozen, xj).compile()
    compile_seconds = time.perf_counter() - started
    last: Dict = {}

    def run() -> float:
        loss, grads = compiled(trainable, frozen, xj)
        jax.block_until_ready(grads)
        last["grads"] = grads
        return float(loss)

    return run, compile_seconds, lambda: last["grads"]


def timed(fn: Callable[[], float]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def agreement(
    model: SOENModel,
    x: torch.Tensor,
    torch_run: Callable[[], float],
    jax_run: Callable[[], float],
    jax_grads: Callable[[], Dict],
) -> Dict[str, float]:
    """Relative loss and gradient differences: torch vs JAX, and each against float64 torch.

    Gradient figures are max |difference| / max |reference gradient| over every trainable
    tensor; the float64 run tells how much of a torch/JAX difference is float32 rounding.
    """
    t_loss, j_loss = torch_run(), jax_run()
    grads = jax_grads()
    double = copy.deepcopy(model).double()
    double.zero_grad(set_to_none=True)
    double(x.double())[:, 1:].pow(2).mean().backward()
    exact = {
        n: p.grad.numpy() for n, p in double.parameters_by_name().items() if p.grad is not None
    }
    out = {
        "loss": abs(t_loss - j_loss) / max(abs(t_loss), 1e-30),
        "grad": 0.0,
        "torch_vs_f64": 0.0,
        "jax_vs_f64": 0.0,
    }
    for name, p in model.parameters_by_name().items():
        if not (p.requires_grad and p.grad is not None):
            continue
        t_grad, j_grad, f64 = p.grad.numpy(), np.asarray(grads[name]), exact[name]
        scale = max(float(np.abs(f64).max()), 1e-30)
        out["grad"] = max(out["grad"], float(np.abs(j_grad - t_grad).max()) / scale)
        out["torch_vs_f64"] = max(out["torch_vs_f64"], float(np.abs(t_grad - f64).max()) / scale)
        out["jax_vs_f64"] = max(out["jax_vs_f64"], float(np.abs(j_grad - f64).max()) / scale)
    return out


def main() -> None:
    """Run both cases and print samples/s, speed-ups and JAX compile times."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per backend")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import jax

    cases = [
        (
            "(a) 1->5 SD Heaviside + internal all_to_all ->2",
            SOENModel.from_yaml(pulse_arch(), seed=1),
            64,
            64,
            0.5,
        ),
        (
            "(b) 64->256 SD RateArray ->10 SD RateArray",
            SOENModel.from_yaml(EXAMPLES / "dendrite_64_256_10.yaml", seed=1),
            64,
            100,
            0.3,
        ),
    ]
    print(
        f"torch {torch.__version__} (threads={torch.get_num_threads()}), jax {jax.__version__} "
        f"on {jax.devices()[0].platform}, repeats={args.repeats} (median)"
    )
    for title, model, batch, steps, scale in cases:
        x = torch.rand(batch, steps, model.input_dim) * scale
        torch_run = torch_step(model, x)
        jax_run, compile_seconds, jax_grads = jax_step(model, x)
        agree = agreement(model, x, torch_run, jax_run, jax_grads)
        torch_times: List[float] = []
        jax_times: List[float] = []
        torch_run(), jax_run()  # warm-up
        for _ in range(args.repeats):
            torch_times.append(timed(torch_run))
            jax_times.append(timed(jax_run))
        t_s, j_s = statistics.median(torch_times), statistics.median(jax_times)
        print(f"\n{title}: batch {batch}, T {steps}")
        print(
            f"  agreement: |dloss|/loss = {agree['loss']:.1e}; max |dgrad|/max|grad|: torch vs jax "
            f"{agree['grad']:.1e} (float64 reference: torch {agree['torch_vs_f64']:.1e}, "
            f"jax {agree['jax_vs_f64']:.1e})"
        )
        print(
            f"  forward+backward  torch {batch / t_s:10.1f} samples/s   "
            f"jax {batch / j_s:10.1f} samples/s   "
            f"speed-up {t_s / j_s:5.2f}x"
        )
        print(f"  jax compile (trace + XLA, first call only): {compile_seconds:.2f} s")


if __name__ == "__main__":
    main()
