"""The ``--from-file`` option of ``soen-train``: run (or keep) an original training YAML.

``soen-train --from-file path/to/training_config.yaml [overrides]`` translates the original
SOEN toolkit's training config (original_training_yaml.py), prints one table of what it
renamed or ignored, writes the result as a Hydra experiment in a temporary config folder and
composes it like any other job: ``+experiment=<name>`` with that folder on the search path,
so overrides, ``-m`` sweeps and ``hparams_search=optuna`` work on top of it.

``soen-train --from-file X.yaml --save-experiment NAME [--config-dir DIR]`` instead writes
``DIR/experiment/NAME.yaml`` (DIR defaults to ``conf``) and prints the command that runs it.
"""

from __future__ import annotations

import atexit
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

from soen_train.config.errors import ConfigError
from soen_train.config.original_training_yaml import (
    experiment_yaml,
    load_original_yaml,
    report_lines,
    translate,
)

FROM_FILE = "--from-file"
SAVE = "--save-experiment"
CONFIG_DIR = "--config-dir"


def _take(args: List[str], flag: str) -> Tuple[Optional[str], List[str]]:
    """The value of ``flag`` (``--flag V`` or ``--flag=V``) and the args without it."""
    rest: List[str] = []
    value: Optional[str] = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == flag:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                raise ConfigError(f"{flag} needs a value")
            value = args[i + 1]
            i += 2
            continue
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return value, rest


#: Hydra flags that take a value (``--info`` only one of INFO_CHOICES).
VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
               "--config-dir", "-cd", "--experimental-rerun", "--info", "-i"}
INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def split_flags(args: List[str]) -> Tuple[List[str], List[str]]:
    """(Hydra flags with their values, overrides): Hydra wants the overrides in one block."""
    flags: List[str] = []
    overrides: List[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            flags.append(arg)
            takes = arg in VALUE_FLAGS and i + 1 < len(args) and not args[i + 1].startswith("-")
            if takes and arg in ("--info", "-i") and args[i + 1] not in INFO_CHOICES:
                takes = False
            if takes:
                flags.append(args[i + 1])
                i += 1
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


def experiment_name_for(path: Path) -> str:
    """A config name made of the file's stem (letters, digits and underscores)."""
    return "original_" + (re.sub(r"\W+", "_", path.stem).strip("_") or "config")


def _translated(path: Path) -> Tuple[str, List[str]]:
    tr = translate(load_original_yaml(path), source=str(path))
    return experiment_yaml(tr, str(path)), report_lines(tr, str(path))


def expand_from_file(args: List[str]) -> Optional[List[str]]:
    """Command-line args with ``--from-file`` replaced by the translated experiment.

    Returns None when the job is done already (the ``--save-experiment`` form).
    """
    source, rest = _take(args, FROM_FILE)
    if source is None:
        return args
    save, rest = _take(rest, SAVE)
    path = Path(source)
    text, report = _translated(path)
    if save is not None:
        if not re.fullmatch(r"\w+", save):
            raise ConfigError(f"{SAVE} {save!r}: use letters, digits and underscores")
        config_dir, rest = _take(rest, CONFIG_DIR)
        folder = Path(config_dir or "conf")
        target = folder / "experiment" / f"{save}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print("\n".join(report), file=sys.stderr)
        extra = " ".join(rest)
        print(f"wrote {target}; run it with:")
        print(f"  soen-train --config-dir {folder} +experiment={save}" + (f" {extra}" if extra else ""))
        return None
    folder = Path(tempfile.mkdtemp(prefix="soen_from_file_"))
    atexit.register(shutil.rmtree, folder, True)
    name = experiment_name_for(path)
    (folder / "experiment").mkdir()
    (folder / "experiment" / f"{name}.yaml").write_text(text, encoding="utf-8")
    print("\n".join(report), file=sys.stderr)
    flags, overrides = split_flags(rest)
    return [*flags, f"hydra.searchpath=[file://{folder.resolve()}]", f"+experiment={name}", *overrides]
