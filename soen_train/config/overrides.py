"""The command line as Hydra reads it: flags, overrides, group options and sweep expansion.

Used by the CLI to check every override before Hydra starts (struct mode for ``+key`` too) and
to list the jobs a ``-m`` sweep will run, so that each job's config is composed and checked
before the first job starts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
from dataclasses import dataclass, field
from typing import List, Optional

from soen_train.config.errors import ConfigError
from soen_train.config.keys import check_override_key

# Config groups a user picks with `group=option`; every one is in the primary config's
# defaults list, so `+group=option` (the usual spelling for experiments) means `group=option`.
CONFIG_GROUPS = (
    "optimizer", "loss", "time_pooling", "lr_scheduler", "logger", "arch", "debug",
    "launcher", "hparams_search", "experiment", "sweep",
)
# Groups not in the primary defaults list: appended from the command line (debug last).
APPENDED_GROUPS = ("experiment", "sweep", "debug")
# Largest number of job combinations composed one by one before a sweep starts; bigger sweeps
# have each swept value checked once against the other overrides' first values.
MAX_CHECKED_COMBINATIONS = 64


@dataclass
class CommandLine:
    """What Hydra's own argument parser makes of the arguments."""

    overrides: List[str]
    multirun: bool = False
    cfg: Optional[str] = None  # --cfg job|hydra|all: print the config, run nothing
    info_only: bool = False  # --help, --hydra-help, --info, --shell-completion, ...
    config_path: Optional[str] = None
    config_name: Optional[str] = None
    config_dir: Optional[str] = None
    flags: List[str] = field(default_factory=list)  # every non-override argument, as given

    def ordered(self) -> List[str]:
        """Flags first, then overrides: the order Hydra's own (non-intermixed) parser accepts."""
        return [*self.flags, *self.overrides]


def parse_command_line(args: List[str]) -> CommandLine:
    """Split ``args`` with Hydra's parser (so flags mean what they mean to Hydra)."""
    from hydra._internal.utils import get_args_parser

    if "--version" in args:
        return CommandLine(overrides=[], info_only=True, flags=list(args))
    parser = get_args_parser()
    parser.exit_on_error = False
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse's usage text is many lines
            ns = parser.parse_intermixed_args(args)
    except (SystemExit, argparse.ArgumentError) as err:
        detail = f" ({err})" if isinstance(err, argparse.ArgumentError) else ""
        raise ConfigError(
            f"cannot read the command line{detail}: {' '.join(args)}; see soen-train --help"
        ) from None
    info_only = bool(
        ns.help or ns.hydra_help or ns.info or ns.shell_completion
        or getattr(ns, "experimental_rerun", None)
    )
    overrides = list(ns.overrides)
    flags = [a for a in args if a not in overrides]
    return CommandLine(
        overrides=overrides, multirun=bool(ns.multirun), cfg=ns.cfg, info_only=info_only,
        config_path=ns.config_path, config_name=ns.config_name, config_dir=ns.config_dir,
        flags=flags,
    )


def normalise_group_additions(args: List[str]) -> List[str]:
    """Put the appended groups in their place: ``experiment``, ``sweep``, then ``debug`` last.

    The primary config's defaults list holds every group but these three; an experiment is
    added with ``+experiment=NAME`` (``experiment=NAME`` is read the same; likewise a shipped
    multirun template with ``sweep=NAME``) and a debug overlay with
    ``debug=NAME`` or ``+debug=NAME``. Debug overlays are moved after everything else, so they
    win over the experiment whatever the order on the command line.
    """
    head, debug = [], []
    for arg in args:
        plain = arg.lstrip("+")
        key = plain.split("=", 1)[0] if "=" in arg and not arg.startswith("++") else None
        if key in APPENDED_GROUPS:
            arg = "+" + plain
        elif key in CONFIG_GROUPS and arg.startswith("+"):
            arg = plain  # already in the defaults list: `+optimizer=lion` means optimizer=lion
        (debug if key == "debug" else head).append(arg)
    return head + debug


def _key_of(override: str) -> str:
    return override.split("=", 1)[0]


def check_override_keys(overrides: List[str]) -> None:
    """Every override names a schema key or a config group: struct mode for ``+key`` too."""
    for arg in overrides:
        if "=" not in arg and not arg.startswith("~"):
            continue
        key = _key_of(arg).lstrip("+~")
        if key.startswith("hydra") or "/" in key or key.split("@")[0] in CONFIG_GROUPS:
            continue
        check_override_key(key)


def job_override_lists(overrides: List[str]) -> List[List[str]]:
    """The override list of each job a sweep will run (one list for a single run).

    Discrete sweeps (``a,b``, ``choice()``, ``range()``) are expanded; interval sweeps, which
    only an Optuna sampler draws from, are left out (their keys are checked, their values are
    drawn later). Up to MAX_CHECKED_COMBINATIONS combinations are listed in full; beyond that
    each swept value is combined with the first value of the others.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise ConfigError(f"invalid override: {one_line(err)}") from None
    fixed: List[str] = []
    swept: List[List[str]] = []
    for ov in parsed:
        key = ov.get_key_element()
        if not ov.is_sweep_override():
            fixed.append(ov.input_line)
        elif ov.is_discrete_sweep():
            swept.append([f"{key}={v}" for v in ov.sweep_string_iterator()])
    if not swept:
        return [fixed]
    total = 1
    for values in swept:
        total *= len(values)
    if total <= MAX_CHECKED_COMBINATIONS:
        return [fixed + list(combo) for combo in itertools.product(*swept)]
    firsts = [values[0] for values in swept]
    jobs = []
    for i, values in enumerate(swept):
        for v in values:
            jobs.append(fixed + firsts[:i] + [v] + firsts[i + 1:])
    return jobs


def one_line(err: BaseException) -> str:
    """A multi-line Hydra/OmegaConf message folded into one line (no hints to set env vars)."""
    text = str(err)
    if err.__cause__ is not None and str(err.__cause__) not in text:
        text += "\n" + str(err.__cause__)
    text = text.split("Config search path:")[0]  # Hydra's search-path dump says nothing useful
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("See https://", "Set the environment"))]
    return " ".join(ln if ln.endswith(":") else ln + ";" for ln in lines).rstrip(";") or type(err).__name__
