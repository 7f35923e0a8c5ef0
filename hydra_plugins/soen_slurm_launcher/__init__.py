"""soen_train's SLURM launcher (``launcher=slurm``): hydra-submitit-launcher's job arrays, and a
job that SLURM ends without a result (``scancel``, node failure, time limit) fails alone."""
