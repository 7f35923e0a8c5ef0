"""soen_train's local parallel launcher (``launcher=joblib``): a pool of worker processes that
lives for the whole sweep, so each worker imports torch/Lightning once and runs many trials,
with ``cores // n_jobs`` torch threads per worker."""
