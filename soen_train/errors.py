"""Every error class of soen_train, in one hierarchy.

A user error (a config, data file, model file, checkpoint or environment the user can fix)
is a ``SOENError``: the CLI prints it as one line, which names the file, key or value and
what would be valid, and exits with status 2 (in a multirun the job fails and the sweep goes
on). Each class also keeps the built-in base its callers catch (``ValueError``, ``KeyError``,
``TypeError``, ``FloatingPointError``, ``PermissionError``, ``RuntimeError``), so ``except
ValueError`` around a config read still works. The few classes at the end are not user
errors: they carry an outcome between parts of the program.

    SOENError
      ConfigError               config keys, values, combinations (ValueError)
        ...                     (the sweep's config errors below are ConfigErrors too)
      DataError                 dataset files, HDF5 keys, data config (ValueError)
      ArchitectureError         an architecture YAML / dict / .soen spec (ValueError)
      SoenFileError             a model file that cannot be read (ValueError)
        OriginalImportError     an original-toolkit file that cannot be imported faithfully
      UnsafeFileError           a pickle naming more than containers and tensors (ValueError)
      OriginalStateError        an original state_dict tensor with no place (ValueError)
      UnknownNameError          a name not in a registry (KeyError, ValueError)
      UnknownParameterError     a parameter a catalog entry does not take (ValueError)
      ParameterTypeError        a parameter value of the wrong type (TypeError, ValueError)
      NonFiniteLossError        a NaN/Inf training loss (FloatingPointError)
        JaxNonFiniteLossError   the same in the JAX backend
      DistillationError         teacher trajectories that cannot be made (ValueError)
      StorageError              outputs that cannot be written (disk full, read-only)
      RunInterrupted            SIGTERM/SIGINT after a resumable checkpoint was written
      SweepSummaryError         a folder soen-train-summary cannot summarise (ValueError)
      TrackingAuthError         a tracking server refusing the credentials (PermissionError)
      SlurmRequestError         a SLURM request the partition can never satisfy
      StorageConfigError        hydra.sweeper.storage that is no database URL (ConfigError)
      SearchSpaceError          a sweep parameter that is no Optuna distribution (ConfigError)
      SweeperConfigError        a hydra.sweeper setting with an invalid value (ConfigError)
      OptunaClassError          a _target_ off the Optuna allow-list (ConfigError)
      TrialContextError         an incomplete trial environment (RuntimeError)
      JaxUnsupportedError       a feature the JAX backend does not run (ValueError)
      JaxCheckpointError        a broken or mismatched JAX checkpoint (ValueError)
        UnsafePickleError       a JAX pickle naming code (also an UnsafeFileError)
    SlurmJobEnded               a SLURM job ended without its result (RuntimeError; internal)
    CatalogMismatchError        a backend entry unlike its declaration (TypeError; internal)

The modules that raise these import them from here; the names stay importable from their
old homes (``soen_train.config.errors.ConfigError``, ``soen_train.data.errors.DataError``,
...). This module imports nothing of soen_train, so every package can depend on it.
"""

from __future__ import annotations


class SOENError(Exception):
    """An error caused by user input; its message alone tells the user what to fix."""


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------


class ConfigError(SOENError, ValueError):
    """An invalid config key, value or combination; the message names the key and valid values."""


class UnknownNameError(SOENError, KeyError, ValueError):
    """A name that is not in a registry; the message lists what is."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class UnknownParameterError(SOENError, ValueError):
    """A parameter name that the catalog entry does not accept; the message lists valid ones."""


class ParameterTypeError(SOENError, TypeError, ValueError):
    """A parameter value of the wrong type (e.g. the string '1e-3' where a number is needed).

    Also a ``ValueError`` so that callers can catch every configuration error one way.
    """


# ---------------------------------------------------------------------------------------
# Data and model files
# ---------------------------------------------------------------------------------------


class DataError(SOENError, ValueError):
    """A dataset file, HDF5 key or data-config value that cannot be used as given."""


class ArchitectureError(SOENError, ValueError):
    """An architecture description (YAML, dict or .soen spec) is invalid."""


class SoenFileError(SOENError, ValueError):
    """A model file cannot be read (wrong format, unsafe content, or inconsistent)."""


class OriginalImportError(SoenFileError):
    """An original-toolkit file cannot be imported faithfully (the message says what and where)."""


class UnsafeFileError(SOENError, ValueError):
    """A pickled file references something other than containers and tensors."""


class OriginalStateError(SOENError, ValueError):
    """A tensor of an original-toolkit state_dict cannot be placed into a soen_train layer."""


# ---------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------


class NonFiniteLossError(SOENError, FloatingPointError):
    """A NaN or Inf loss: training stops instead of corrupting the weights (checkpoints stay)."""


class DistillationError(SOENError, ValueError):
    """Teacher trajectories cannot be generated from the given teacher, data or options."""


class StorageError(SOENError):
    """The run could not write its outputs; earlier checkpoints and logs are left as they were."""


class RunInterrupted(SOENError):
    """The job was pre-empted (SIGTERM/SIGINT) after writing a resumable checkpoint."""


# ---------------------------------------------------------------------------------------
# Tracking
# ---------------------------------------------------------------------------------------


class SweepSummaryError(SOENError, ValueError):
    """The given directory cannot be summarised (not a multirun dir, unknown metric, ...)."""


class TrackingAuthError(SOENError, PermissionError):
    """The tracking server answered but refused the run's credentials (HTTP 401/403)."""


# ---------------------------------------------------------------------------------------
# Sweeps (Optuna sweeper, SLURM)
# ---------------------------------------------------------------------------------------


class StorageConfigError(ConfigError):
    """A ``hydra.sweeper.storage`` value that is not a usable database URL."""


class SearchSpaceError(ConfigError):
    """A sweep parameter that cannot become an Optuna distribution; the message says why."""


class SweeperConfigError(ConfigError):
    """A ``hydra.sweeper`` setting with an invalid value; the message names key and value."""


class OptunaClassError(ConfigError):
    """A ``_target_`` that is not on the allow-list, or a config that cannot build it."""


class TrialContextError(SOENError, RuntimeError):
    """The trial environment is incomplete or names a trial that does not exist."""


class SlurmRequestError(SOENError):
    """A job request the partition can never satisfy (or a job stuck for such a reason)."""


# ---------------------------------------------------------------------------------------
# JAX backend
# ---------------------------------------------------------------------------------------


class JaxUnsupportedError(SOENError, ValueError):
    """A model feature or config key the JAX backend does not run; the message names it.

    The JAX backend never ignores a setting: anything it cannot reproduce exactly raises
    this error naming the layer, connection or config key and what to do instead
    (usually: switch it off, or use ``training.backend=torch``).
    """


class JaxCheckpointError(SOENError, ValueError):
    """A JAX checkpoint file that is missing, incomplete or does not match its model."""


class JaxNonFiniteLossError(NonFiniteLossError):
    """A NaN or Inf training loss in the JAX backend: the run stops instead of corrupting the
    weights."""


class UnsafePickleError(JaxCheckpointError, UnsafeFileError):
    """The pickle names a global that could run code; nothing was executed."""


# ---------------------------------------------------------------------------------------
# Not user errors: outcomes passed between parts of the program
# ---------------------------------------------------------------------------------------


class SlurmJobEnded(RuntimeError):
    """A SLURM job ended (cancelled, failed, timed out...) without writing its result."""


class CatalogMismatchError(TypeError):
    """A backend's implementation differs from its catalog declaration, or a declared entry has
    no implementation: a programming error found when the backend is imported."""
