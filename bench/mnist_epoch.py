"""One training epoch of the shipped MNIST net (conf/arch/mnist_net.yaml) on
MNIST-sized data: 60000 sequences of 28 steps x 28 features (a generated stand-in with MNIST's
shape and pixel range; the time does not depend on the pixel values), batch 64 as the
experiment ships it, CPU. Forward + final-step pooling + cross-entropy + AdamW step per batch,
the work `soen-train experiment=mnist` does per training batch. Prints samples/s.

    python bench/mnist_epoch.py [--samples 60000] [--threads 2] [--batch 64]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from soen_train.model import SOENModel
from soen_train.training.time_pooling import pool_time

ARCH = Path(__file__).resolve().parents[1] / "conf" / "arch" / "mnist_net.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = SOENModel.from_yaml(yaml.safe_load(ARCH.read_text()), seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.samples, 28, 28), generator=gen).float() / 255.0
    y = torch.randint(0, 10, (args.samples,), generator=gen)
    batches = [(x[i : i + args.batch], y[i : i + args.batch]) for i in range(0, args.samples, args.batch)]
    model(batches[0][0])  # warm-up (native kernel compile on first use)
    started = time.perf_counter()
    for xb, yb in batches:
        logits = pool_time(model(xb)[:, 1:], "final", {"scale": 5.0})
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        model.enforce_constraints()
    seconds = time.perf_counter() - started
    print(f"MNIST net 28 -> 64 (internal) -> 10, {args.samples} samples x 28 steps, batch "
          f"{args.batch}, {args.threads} thread(s)")
    print(f"epoch: {seconds:.1f} s, {args.samples / seconds:,.0f} samples/s, "
          f"{1000 * seconds / len(batches):.2f} ms per batch")


if __name__ == "__main__":
    main()
