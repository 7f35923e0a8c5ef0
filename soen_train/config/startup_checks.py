"""Everything the CLI checks before Hydra starts a run or a sweep, in one pass.

For a single run and for every job of a ``-m`` sweep (basic or Optuna): compose the config
with Hydra's compose API (a wrong type, an unknown group option or bad syntax becomes one
line), build and validate the typed config, then run the pre-flight checks of files, folders
and the machine. Nothing is written and neither torch nor Lightning is imported here.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Iterator, List, Optional, Set, Tuple

from omegaconf import DictConfig, OmegaConf, open_dict

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.errors import ConfigError
from soen_train.config.keys import check_override_key
from soen_train.config.overrides import (
    CONFIG_GROUPS,
    CommandLine,
    job_override_lists,
    one_line,
)


@contextlib.contextmanager
def _hydra_context(line: CommandLine) -> Iterator[None]:
    from hydra import initialize_config_dir

    custom = line.config_path and Path(line.config_path).is_absolute()
    folder = line.config_path if custom else str(CONF_DIR)
    with initialize_config_dir(config_dir=folder, version_base="1.3"):
        yield


def _search_path_override(line: CommandLine) -> List[str]:
    if not line.config_dir:
        return []
    return [f"hydra.searchpath=[file://{Path(line.config_dir).absolute()}]"]


def _composition_error(err: BaseException) -> ConfigError:
    """One line for a Hydra/OmegaConf composition error; an unknown key names the closest."""
    text = str(err) + " " + str(err.__cause__ or "")
    unknown = re.search(r"Key '[^']+' not in '\w+'\W+full_key: ([\w.]+)", text)
    if unknown:
        try:
            check_override_key(unknown.group(1))
        except ConfigError as better:
            where = re.match(r"In '([^']+)'", text)
            return ConfigError(f"{where.group(1)}: {better}" if where else str(better))
    return ConfigError(f"invalid override: {one_line(err)}")


def compose_job(line: CommandLine, overrides: List[str]) -> DictConfig:
    """The composed config of one job (with its ``hydra`` node), as Hydra will compose it."""
    from hydra import compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose(
            line.config_name or "train",
            overrides=overrides + _search_path_override(line),
            return_hydra_config=True,
        )
    except (HydraException, OmegaConfBaseException) as err:
        raise _composition_error(err) from None
    except ValueError as err:  # e.g. `arch=null`: Hydra cannot set a group option to null
        bad = [o for o in overrides if o.endswith("=null") and o.split("=")[0].lstrip("+") in CONFIG_GROUPS]
        hint = f"; to use no {bad[0].split('=')[0].lstrip('+')} option drop the override or write ~{bad[0].split('=')[0].lstrip('+')}" if bad else ""
        raise ConfigError(f"invalid override{' ' + bad[0] if bad else ''}: {one_line(err)}{hint}") from None


def _select(cfg: DictConfig, key: str) -> Optional[str]:
    try:
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except Exception:  # an interpolation only Hydra's runtime can fill (job name, ...)
        return None
    return None if value is None else str(value)


def _sweeper_param_overrides(cfg: DictConfig) -> List[List[str]]:
    """Jobs that try each discrete value of the sweeper's configured ``params`` (Optuna or basic)."""
    params = OmegaConf.select(cfg, "hydra.sweeper.params")
    if not params:
        return []
    items = [f"{k}={v}" for k, v in params.items()]
    for item in items:
        key = item.split("=", 1)[0].lstrip("+~")
        if not key.startswith("hydra") and key not in CONFIG_GROUPS:
            try:
                check_override_key(key)
            except ConfigError as err:
                raise ConfigError(f"hydra.sweeper.params: {err}") from None
    return job_override_lists(items)


def _job_config(cfg: DictConfig) -> Any:
    from soen_train.config.loading import to_job_config

    with open_dict(cfg):
        del cfg["hydra"]
    return to_job_config(cfg)


def check_before_start(line: CommandLine, user_files: Tuple[str, ...] = ()) -> List[Any]:
    """Compose, validate and pre-flight every job ``line`` will run; raise the first problem.

    Returns the job configs (none for ``--cfg``), their values checked, for the validation
    pass against the catalogs (``config.validate``), which needs torch.

    ``user_files``: YAML files named on the command line outside the config groups (their keys
    are checked for duplicates and Python tags).
    """
    from soen_train.preflight import check_config_folder, load_yaml_strict, preflight

    if line.config_dir:
        check_config_folder(Path(line.config_dir), "--config-dir")
    if line.config_path and Path(line.config_path).is_absolute():
        check_config_folder(Path(line.config_path), "--config-path")
    for name in user_files:
        load_yaml_strict(Path(name), name)
    jobs = job_override_lists(line.overrides) if line.multirun else [line.overrides]
    seen: Set[str] = set()
    checked: List[Any] = []
    with _hydra_context(line):
        first = compose_job(line, jobs[0])
        extra = _sweeper_param_overrides(first)  # keys checked in single runs too
        if line.multirun:
            jobs = jobs + [jobs[0] + job for job in extra if job]
        out_key = "hydra.sweep.dir" if line.multirun else "hydra.run.dir"
        for i, job in enumerate(jobs):
            cfg = first if i == 0 else compose_job(line, job)
            if line.cfg:
                continue  # --cfg prints the config: composing it is all that is needed
            out_dir = _select(cfg, out_key)
            job_cfg = _job_config(cfg)
            preflight(job_cfg, out_dir, out_key, seen)
            checked.append(job_cfg)
    return checked
