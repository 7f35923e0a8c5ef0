"""soen_train's Optuna sweeper for Hydra 1.3 and Optuna >= 4 (``hydra/sweeper=optuna``).

Drop-in for the upstream ``hydra-optuna-sweeper`` config syntax, plus pruning, FAIL/PRUNED
trials that do not stop the search, and resume from the study's storage.
"""
