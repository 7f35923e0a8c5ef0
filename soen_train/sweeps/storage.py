"""Where an Optuna study lives: resolve the storage URL and open it safely for many processes.

Both sides use this module: the sweeper (which creates the study) and each job (which reports
intermediate values to its trial). SQLite files are shared by parallel jobs, so connections
wait up to ``SQLITE_TIMEOUT_S`` seconds for a lock instead of failing with "database is locked".
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union

from soen_train.errors import StorageConfigError

#: Seconds a SQLite connection waits for another process's write lock before giving up.
SQLITE_TIMEOUT_S = 30.0
#: File name of the default study storage inside the sweep directory.
DEFAULT_DB_NAME = "optuna.db"
_SQLITE_PREFIX = "sqlite:///"
#: PostgreSQL advisory-lock key held while Optuna creates its tables (any fixed 64-bit number).
PG_SCHEMA_LOCK_KEY = 0x50E17A1


def resolve_storage_url(storage: Optional[str], sweep_dir: Union[str, Path]) -> str:
    """The absolute storage URL of a sweep: ``storage`` or ``sqlite:///<sweep_dir>/optuna.db``.

    A relative SQLite path is made absolute against the current directory now, because jobs
    may run in another working directory (``hydra.job.chdir``) or on another machine.
    """
    if storage is None or str(storage).strip() == "":
        return _SQLITE_PREFIX + str((Path(sweep_dir) / DEFAULT_DB_NAME).resolve())
    if not isinstance(storage, str):
        raise StorageConfigError(
            f"hydra.sweeper.storage must be a database URL string such as "
            f"'sqlite:///optuna.db' or 'postgresql://user@host/db', got {storage!r}"
        )
    url = storage.strip()
    if "://" not in url:
        raise StorageConfigError(
            f"hydra.sweeper.storage={storage!r} is not a database URL; valid examples: "
            f"'sqlite:///path/optuna.db', 'postgresql://user@host/db', 'mysql://user@host/db'"
        )
    if url.startswith(_SQLITE_PREFIX) and url != "sqlite:///:memory:":
        path = url[len(_SQLITE_PREFIX) :].split("?", 1)
        if not path[0]:
            raise StorageConfigError(f"hydra.sweeper.storage={storage!r} names no SQLite file")
        absolute = str(Path(path[0]).resolve())
        url = _SQLITE_PREFIX + absolute + (f"?{path[1]}" if len(path) > 1 else "")
    if url.startswith("sqlite") and ":memory:" in url:
        raise StorageConfigError(
            "hydra.sweeper.storage: an in-memory SQLite database cannot be shared with the "
            "jobs; give a file, e.g. 'sqlite:///optuna.db', or leave storage unset"
        )
    return url


def url_has_password(url: str) -> bool:
    """True when the URL carries a password (it must then not be written into job configs)."""
    from sqlalchemy.engine import make_url

    return make_url(url).password is not None


def masked_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for logs and result files."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Optional[Path]:
    """The database file of a ``sqlite:///`` URL, None for other databases."""
    if not url.startswith(_SQLITE_PREFIX):
        return None
    return Path(url[len(_SQLITE_PREFIX) :].split("?", 1)[0])


@functools.lru_cache(maxsize=8)
def open_storage(
    url: str, heartbeat_interval: Optional[int] = None, grace_period: Optional[int] = None
) -> "optuna.storages.RDBStorage":  # noqa: F821 (imported lazily)
    """An Optuna RDB storage for ``url``, one per process and settings (connections are reused).

    SQLite gets a lock-wait timeout so parallel jobs queue for the write lock; the parent
    folder of a SQLite file is created when missing, and the tables are created under a file
    lock (two sweepers starting on a new database at once would otherwise race; on PostgreSQL,
    where they collide on ``CREATE TYPE``, under an advisory lock of the server). The sweeper
    passes ``heartbeat_interval``/``grace_period`` (seconds) to find trials of dead sweepers.
    """
    import fcntl

    import optuna

    engine_kwargs = {}
    db_file = sqlite_file(url)
    kwargs = dict(heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    if db_file is None:
        with _postgres_schema_lock(url):
            return optuna.storages.RDBStorage(url, **kwargs)
    db_file.parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    with open(db_file.with_name(f".{db_file.name}.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)


@contextmanager
def _postgres_schema_lock(url: str) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock ``PG_SCHEMA_LOCK_KEY`` (on its own connection) for the
    block; other databases pass straight through."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    if make_url(url).get_backend_name() != "postgresql":
        yield
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("select pg_advisory_lock(:key)"), {"key": PG_SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("select pg_advisory_unlock(:key)"), {"key": PG_SCHEMA_LOCK_KEY})
    finally:
        engine.dispose()
