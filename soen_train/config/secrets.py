"""Keeps secrets (passwords, tokens) out of every file and log soen-train writes.

A secret given on the command line is moved into an environment variable before Hydra sees it,
so it never reaches `.hydra/overrides.yaml` or `config.yaml`; every dump of the config (saved
copies, MLflow params, TensorBoard hparams, the printed tree) goes through `redact`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping

SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|credential)", re.IGNORECASE)
MASK = "***"

# Where a known secret key is read from when the config leaves it null.
SECRET_ENV = {"logging.mlflow_password": "MLFLOW_TRACKING_PASSWORD"}


def is_secret_key(key: str) -> bool:
    """True when the last component of a dotted key looks like it names a secret."""
    return bool(SECRET_KEY.search(key.rsplit(".", 1)[-1]))


def env_name_for(key: str) -> str:
    """The environment variable that carries the secret config key `key`."""
    return SECRET_ENV.get(key, "SOEN_SECRET_" + re.sub(r"\W", "_", key).upper())


def move_secret_overrides_to_env(args: List[str]) -> List[str]:
    """Drop `secret_key=value` overrides from args, exporting each value to its env variable."""
    kept: List[str] = []
    for arg in args:
        key = arg.split("=", 1)[0].lstrip("+~") if "=" in arg and not arg.startswith("-") else ""
        if key and is_secret_key(key):
            os.environ[env_name_for(key)] = arg.split("=", 1)[1]
            continue
        kept.append(arg)
    return kept


#: A secret-looking key and the rest of its line in YAML text (block or flow style, quoted or not).
_SECRET_ENTRY = re.compile(SECRET_KEY.pattern + r"""\w*['"]?[ \t]*:[ \t]*([^\n]*)""", re.IGNORECASE)
_EMPTY_VALUES = {"null", "~", "''", '""', "null,", "null}"}


def may_hold_secrets(yaml_text: str) -> bool:
    """False only when every secret-looking key in ``yaml_text`` is set to null or the empty
    string on its own line, so `redact` would leave the parsed document as it is; a cheap test
    that spares a full parse of a saved config. Conservative: a key whose value continues on
    the next lines (a nested mapping, a block scalar) counts as holding a secret."""
    return any(m.group(2).strip() not in _EMPTY_VALUES for m in _SECRET_ENTRY.finditer(yaml_text))


def redact_yaml_file(path: Path) -> None:
    """Mask the secrets of a YAML file another tool wrote (Hydra's saved configs), in place and
    atomically (a crash leaves the old file); the file is parsed only when `may_hold_secrets`."""
    path = Path(path)
    if not path.is_file():
        return
    text = path.read_text()
    if not may_hold_secrets(text):
        return
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    clean = redact(data)
    if clean != data:
        from soen_train.training.checkpointing import atomic_replace_write

        masked = OmegaConf.to_yaml(OmegaConf.create(clean))
        atomic_replace_write(path, lambda tmp: Path(tmp).write_text(masked))


def redact(obj: Any) -> Any:
    """A copy of nested dicts/lists with every secret-looking key's value masked."""
    if isinstance(obj, Mapping):
        out: Dict[str, Any] = {}
        for k, v in obj.items():
            out[k] = MASK if (is_secret_key(str(k)) and v not in (None, "")) else redact(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    return obj
