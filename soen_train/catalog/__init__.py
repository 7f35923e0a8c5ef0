"""Backend-neutral declarations of every catalog entry (no torch, no jax here).

One module per catalog: ``losses``, ``time_pooling``, ``metrics``, ``optimizers``,
``source_functions``, ``layers``. Each declares its entries once (name, aliases, params with
defaults, what they need, value checks, and which backend lacks an entry and why); the torch
backend and the JAX backend register their implementations against these declarations
(``declaration.Catalog``), and a mismatch is an error when the backend is imported.
``reference_doc`` renders docs/catalog.md from them.
"""
