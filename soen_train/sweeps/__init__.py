"""Optuna sweeps: the job side of a trial (``current_trial``) and the pruning callback.

The sweeper itself is the Hydra plugin ``hydra_plugins.soen_optuna_sweeper``
(``hydra/sweeper=optuna``); it uses the helpers in this package. Import
``soen_train.sweeps.pruning`` for ``OptunaPruningCallback`` (it imports Lightning).
"""

from soen_train.sweeps.trial_context import TrialContextError, TrialHandle, current_trial

__all__ = ["TrialContextError", "TrialHandle", "current_trial"]
