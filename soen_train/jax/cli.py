"""``soen-train-jax``: tools for JAX checkpoints.

    soen-train-jax verify CKPT [SOEN] [--rtol 1e-5] [--atol 1e-6]

``verify`` compares every parameter of a JAX checkpoint (``*.jax.npz``) with the ``.soen``
written beside it (default ``<stem>.soen``) and checks that both describe the same
architecture. It prints ``PASS``, or one line per mismatching tensor (name, max abs
difference, worst relative difference), and exits with 0 on PASS and 1 otherwise
(mismatch, missing file or unreadable file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .checkpoint import load_checkpoint, soen_path_for


def compare_params(
    jax_params: Dict[str, np.ndarray], torch_params: Dict[str, np.ndarray], rtol: float, atol: float
) -> List[str]:
    """One message per tensor that differs (missing, shape, or values outside rtol/atol)."""
    problems: List[str] = []
    for name in sorted(set(jax_params) | set(torch_params)):
        if name not in torch_params:
            problems.append(f"{name}: only in the JAX checkpoint")
            continue
        if name not in jax_params:
            problems.append(f"{name}: only in the .soen file")
            continue
        a = np.asarray(jax_params[name], dtype=np.float64)
        b = np.asarray(torch_params[name], dtype=np.float64)
        if a.shape != b.shape:
            problems.append(f"{name}: shape {a.shape} in the checkpoint, {b.shape} in the .soen")
            continue
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            diff = np.abs(a - b)
            rel = diff / np.maximum(np.abs(b), 1e-30)
            problems.append(
                f"{name}: max |diff| {diff.max():.3e}, max rel {rel.max():.3e} "
                f"({int((diff > atol + rtol * np.abs(b)).sum())} of {b.size} entries outside "
                "tolerance)"
            )
    return problems


def verify(ckpt_path: str, soen_path: Optional[str], rtol: float, atol: float) -> int:
    """Run the verify command; returns the exit code (0 PASS, 1 otherwise)."""
    from soen_train.model.network import SOENModel

    from .architecture_match import same_architecture

    ckpt_file = Path(ckpt_path)
    soen_file = Path(soen_path) if soen_path else soen_path_for(ckpt_file)
    try:
        ckpt = load_checkpoint(ckpt_file)
    except Exception as err:  # any unreadable input is reported, not raised
        print(f"FAIL: {err}")
        return 1
    if not soen_file.is_file():
        print(f"FAIL: .soen file not found: {soen_file}")
        return 1
    try:
        model = SOENModel.load(soen_file)
    except Exception as err:
        print(f"FAIL: cannot load {soen_file}: {err}")
        return 1
    torch_params = {k: v.detach().cpu().numpy() for k, v in model.parameters_by_name().items()}
    problems = compare_params(ckpt.params, torch_params, rtol, atol)
    arch_problem = same_architecture(ckpt.spec, model.spec)
    if arch_problem:
        problems.insert(0, f"architecture: {arch_problem}")
    if problems:
        print(f"FAIL: {ckpt_file} vs {soen_file} (rtol {rtol:g}, atol {atol:g})")
        for line in problems:
            print(f"  {line}")
        return 1
    print(
        f"PASS: {len(torch_params)} tensors of {ckpt_file.name} match {soen_file.name} "
        f"(rtol {rtol:g}, atol {atol:g})"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``soen-train-jax``."""
    parser = argparse.ArgumentParser(
        prog="soen-train-jax", description="Tools for soen_train JAX checkpoints."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="compare a JAX checkpoint with its .soen file")
    check.add_argument("checkpoint", help="a *.jax.npz checkpoint")
    check.add_argument(
        "soen", nargs="?", default=None, help="the .soen file (default: <stem>.soen beside it)"
    )
    check.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance (default 1e-5)")
    check.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance (default 1e-6)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``soen-train-jax`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "verify":
        return verify(args.checkpoint, args.soen, args.rtol, args.atol)
    return 1


if __name__ == "__main__":
    sys.exit(main())
