"""``soen-train-jax``: tools for JAX checkpoints.

    soen-train-jax verify CKPT [SOEN] [--rtol 1e-5] [--atol 1e-6] [--verbose]
    soen-train-jax verify --dir FOLDER [--verbose]
    soen-train-jax migrate PKL [-o OUT] [--soen MODEL.soen]
    soen-train-jax migrate --dir FOLDER [--soen MODEL.soen]

``verify`` compares every parameter of a JAX checkpoint (``*.jax.npz``, or an original
``.pkl`` read with the restricted unpickler) with the ``.soen`` written beside it (default
``<stem>.soen``) and checks that both describe the same architecture. It prints ``PASS``, or
one line per mismatching tensor (name, max abs difference, worst relative difference);
``--verbose`` lists every tensor's difference; ``--dir`` checks every checkpoint of a folder.
Exit code 0 when all pass, 1 otherwise (mismatch, missing file or unreadable file).

``migrate`` converts the original toolkit's ``.pkl`` checkpoints to ``<OUT>.jax.npz`` +
``<OUT>.soen`` (default: beside the ``.pkl``). Nothing in the pickle is executed: see
``original_checkpoint.py``. ``--soen`` gives the model of a params-only (pre-1.0.0) pickle.
The guide's ``--pkl FILE`` spelling is accepted for the checkpoint argument.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .checkpoint import SUFFIX, load_checkpoint, soen_path_for
from .errors import JaxCheckpointError


def compare_params(
    jax_params: Dict[str, np.ndarray], torch_params: Dict[str, np.ndarray], rtol: float, atol: float,
    details: Optional[List[str]] = None,
) -> List[str]:
    """One message per tensor that differs (missing, shape, or values outside rtol/atol).

    ``details``, when given, receives one line per compared tensor (for ``--verbose``).
    """
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
        if details is not None:
            diff = float(np.max(np.abs(a - b))) if a.size else 0.0
            details.append(f"{name}: shape {tuple(a.shape)}, max |diff| {diff:.3e}")
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            diff = np.abs(a - b)
            rel = diff / np.maximum(np.abs(b), 1e-30)
            problems.append(
                f"{name}: max |diff| {diff.max():.3e}, max rel {rel.max():.3e} "
                f"({int((diff > atol + rtol * np.abs(b)).sum())} of {b.size} entries outside "
                "tolerance)"
            )
    return problems


def _read_any(ckpt_file: Path) -> Any:
    """Our checkpoint, or an original .pkl translated in memory (restricted unpickler)."""
    if ckpt_file.suffix == ".pkl":
        from .original_checkpoint import migrate_in_memory

        return migrate_in_memory(ckpt_file).checkpoint
    return load_checkpoint(ckpt_file)


def _load_model(soen_file: Path) -> Any:
    from soen_train.model.network import SOENModel
    from soen_train.model.soen_file import SoenFileError

    try:
        return SOENModel.load(soen_file)
    except SoenFileError:
        return SOENModel.import_original(soen_file)  # a .soen of the original toolkit


def verify(ckpt_path: str, soen_path: Optional[str], rtol: float, atol: float, verbose: bool = False) -> int:
    """Run the verify command; returns the exit code (0 PASS, 1 otherwise)."""
    from .architecture_match import same_architecture

    ckpt_file = Path(ckpt_path)
    soen_file = Path(soen_path) if soen_path else soen_path_for(ckpt_file)
    try:
        ckpt = _read_any(ckpt_file)
    except Exception as err:  # any unreadable input is reported, not raised
        print(f"FAIL: {err}")
        return 1
    if not soen_file.is_file():
        print(f"FAIL: .soen file not found: {soen_file}")
        return 1
    try:
        model = _load_model(soen_file)
    except Exception as err:
        print(f"FAIL: cannot load {soen_file}: {err}")
        return 1
    torch_params = {k: v.detach().cpu().numpy() for k, v in model.parameters_by_name().items()}
    details: Optional[List[str]] = [] if verbose else None
    problems = compare_params(ckpt.params, torch_params, rtol, atol, details)
    if details:
        print(f"{ckpt_file} vs {soen_file}:")
    for line in details or []:
        print(f"  {line}")
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


def verify_dir(folder: str, rtol: float, atol: float, verbose: bool) -> int:
    """Verify every checkpoint of ``folder`` (ours and original .pkl files) against its .soen."""
    from .original_checkpoint import find_checkpoints

    try:
        found = find_checkpoints(folder, [f"*{SUFFIX}", "*.pkl"])
    except JaxCheckpointError as err:
        print(f"FAIL: {err}")
        return 1
    if not found:
        print(f"FAIL: no *{SUFFIX} or *.pkl checkpoints in {folder}")
        return 1
    codes = [verify(str(path), None, rtol, atol, verbose) for path in found]
    failed = sum(1 for c in codes if c)
    print(f"{len(found) - failed} of {len(found)} checkpoints in {folder} pass")
    return 1 if failed else 0


def migrate(pkl: str, output: Optional[str], soen: Optional[str]) -> int:
    """Run the migrate command for one file; returns the exit code (0 done, 1 refused/failed)."""
    from .original_checkpoint import migrate_pickle

    try:
        npz, soen_out, migrated = migrate_pickle(pkl, output, soen)
    except JaxCheckpointError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    if npz is None:
        print(f"migrated {pkl} -> {soen_out} only, no {SUFFIX}: the JAX backend cannot run it "
              f"({migrated.jax_blocker}); the torch backend trains it: training.backend=torch "
              f"model.base_model_path={soen_out} model.load_exact_model_state=true")
    else:
        print(f"migrated {pkl} -> {npz} + {soen_out} (epochs done {migrated.checkpoint.epoch}, "
              f"step {migrated.checkpoint.global_step})")
    if migrated.stubbed:
        print(f"  optimiser-state classes read as inert records (not imported): {', '.join(migrated.stubbed)}")
    for note in migrated.notes:
        print(f"  note: {note}")
    return 0


def migrate_dir(folder: str, soen: Optional[str]) -> int:
    """Migrate every .pkl of ``folder``."""
    from .original_checkpoint import find_checkpoints

    try:
        found = find_checkpoints(folder, ["*.pkl"])
    except JaxCheckpointError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    if not found:
        print(f"Error: no .pkl checkpoints in {folder}", file=sys.stderr)
        return 1
    return 1 if any([migrate(str(p), None, soen) for p in found]) else 0


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``soen-train-jax``."""
    parser = argparse.ArgumentParser(
        prog="soen-train-jax", description="Tools for soen_train JAX checkpoints."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="compare a JAX checkpoint with its .soen file")
    check.add_argument("checkpoint", nargs="?", help="a *.jax.npz checkpoint (or an original .pkl)")
    check.add_argument(
        "soen_file", nargs="?", default=None, help="the .soen file (default: <stem>.soen beside it)"
    )
    check.add_argument("--pkl", dest="pkl", default=None, help="the checkpoint (the guide's spelling)")
    check.add_argument("--soen", dest="soen_opt", default=None, help="the .soen file")
    check.add_argument("--dir", default=None, help="verify every checkpoint in this folder")
    check.add_argument("--verbose", "-v", action="store_true", help="show every tensor's difference")
    check.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance (default 1e-5)")
    check.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance (default 1e-6)")
    move = sub.add_parser("migrate", help="convert original .pkl checkpoints to .jax.npz + .soen")
    move.add_argument("checkpoint", nargs="?", help="an original .pkl checkpoint")
    move.add_argument("--pkl", dest="pkl", default=None, help="the checkpoint (the guide's spelling)")
    move.add_argument("-o", "--output", default=None, help="output stem (default: beside the .pkl)")
    move.add_argument("--soen", default=None, help="the model of a params-only (pre-1.0.0) checkpoint")
    move.add_argument("--dir", default=None, help="migrate every .pkl in this folder")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``soen-train-jax`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    target = args.pkl or args.checkpoint
    if args.command == "verify":
        if args.dir:
            return verify_dir(args.dir, args.rtol, args.atol, args.verbose)
        if not target:
            parser.error("verify needs a checkpoint (or --dir FOLDER)")
        return verify(target, args.soen_opt or args.soen_file, args.rtol, args.atol, args.verbose)
    if args.command == "migrate":
        if args.dir:
            return migrate_dir(args.dir, args.soen)
        if not target:
            parser.error("migrate needs a .pkl checkpoint (or --dir FOLDER)")
        return migrate(target, args.output, args.soen)
    return 1


if __name__ == "__main__":
    sys.exit(main())
