"""Simulator throughput on CUDA: cases (b), (c), (d) of bench/simulate.py at batch 64 and 1024.

Paths timed (samples/s, median of --repeats, forward under torch.no_grad() and forward+backward
with loss = mean squared output):
  per-step   the per-timestep Python reference loop of bench/simulate.py (naive_forward)
  scan       soen_train's layerwise evaluation; on CUDA the compiled C kernel does not apply,
             so this is the PyTorch reference scan (DendriteScan, hand-written backward)
  compiled   torch.compile of the per-step loop (skipped with the reason when compiling fails)

Every path is checked against the scan first (max |output difference| printed). Timings use
torch.cuda.synchronize() around each call.

    python bench/gpu.py [--repeats 7] [--batches 64,1024] [--cases bcd] [--no-compile]

Exits with status 1 and one line when no CUDA device is available.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulate import bench_cases, naive_forward  # noqa: E402


def _seconds(fn: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``fn`` (synchronised) after one warm-up call."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _paths(model, compile_step: bool) -> dict[str, Callable]:
    paths: dict[str, Callable] = {"per-step": naive_forward, "scan": lambda m, x: m(x)}
    if compile_step:
        paths["compiled"] = torch.compile(naive_forward, dynamic=False)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", default="64,1024")
    parser.add_argument("--cases", default="bcd")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile of the step loop")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(f"bench/gpu.py: no CUDA device available (torch {torch.__version__}); nothing to measure")
        return 1
    device = torch.device("cuda")
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}, repeats={args.repeats} (median)")
    for title, model, _, steps, scale in bench_cases():
        if title[1] not in args.cases:
            continue
        model = model.to(device)
        paths = _paths(model, not args.no_compile)
        for batch in (int(b) for b in args.batches.split(",")):
            x = torch.rand(batch, steps, model.input_dim, device=device) * scale
            print(f"\n{title}: batch {batch}, T {steps}")
            with torch.no_grad():
                want = model(x)
            usable = {}
            for name, fn in paths.items():
                try:
                    start = time.perf_counter()
                    with torch.no_grad():
                        got = fn(model, x)
                    torch.cuda.synchronize()
                    first = time.perf_counter() - start
                except Exception as exc:  # torch.compile failures are reported, not fatal
                    print(f"  {name:9s} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:150]}")
                    continue
                print(f"  {name:9s} max|dy| vs scan = {float((got - want).abs().max()):.2e} "
                      f"(first call {first:.1f} s)")
                usable[name] = fn
            for label, grad in (("forward", False), ("forward+backward", True)):
                line = f"  {label:17s}"
                for name, fn in usable.items():
                    def run(fn=fn, grad=grad, model=model, x=x):
                        if grad:
                            model.zero_grad(set_to_none=True)
                            fn(model, x)[:, 1:].pow(2).mean().backward()
                        else:
                            with torch.no_grad():
                                fn(model, x)
                    line += f" | {name} {batch / _seconds(run, args.repeats):11.1f} samples/s"
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
