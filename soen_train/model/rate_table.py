"""The measured SQUID rate table g[ib, phi] behind the ``RateArray`` source function.

The table ships as package data (``data/rate_array.npz``: arrays ``ib`` [201], ``phi`` [201]
and ``g`` [201, 201], indexed ``g[ib, phi]``). It was made by simulating the two-junction
SQUID (beta_c = 0.3, beta_1 = beta_2 = pi/2, beta_sq = pi, t_total = 5000). It is loaded with
``allow_pickle=False`` so reading it can never execute code.

For fast bilinear lookups the table is turned into per-cell coefficients
``(c0, cx, cy, cxy)`` such that inside cell (y0, x0) with fractions (fy, fx)
``g = c0 + fx*cx + fy*(cy + fx*cxy)``; one gather per point then fetches a whole cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

#: Location of the packaged table.
RATE_TABLE_PATH = Path(__file__).with_name("data") / "rate_array.npz"


@dataclass
class RateTable:
    """A uniform-grid table of the SQUID rate g over bias current ib and flux phi."""

    ib: np.ndarray  # [H] bias-current axis (units of Ic), ascending, uniform
    phi: np.ndarray  # [W] flux axis (units of Phi0), ascending from 0, uniform
    g: np.ndarray  # [H, W] rate, indexed [ib, phi]
    _cells: dict[tuple[str, torch.dtype], torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.g.shape != (self.ib.size, self.phi.size):
            raise ValueError(
                f"rate table: g has shape {self.g.shape}, expected "
                f"({self.ib.size}, {self.phi.size}) from the ib and phi axes"
            )
        for name, axis in (("ib", self.ib), ("phi", self.phi)):
            steps = np.diff(axis)
            if axis.size < 2 or not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-12):
                raise ValueError(f"rate table: the {name} axis must be uniform and ascending")

    @property
    def ib_min(self) -> float:
        """Smallest tabulated bias current [Ic]."""
        return float(self.ib[0])

    @property
    def ib_max(self) -> float:
        """Largest tabulated bias current [Ic]."""
        return float(self.ib[-1])

    @property
    def ib_step(self) -> float:
        """Grid spacing of the bias-current axis [Ic]."""
        return float((self.ib[-1] - self.ib[0]) / (self.ib.size - 1))

    @property
    def phi_min(self) -> float:
        """Smallest tabulated flux [Phi0] (0 for the shipped table)."""
        return float(self.phi[0])

    @property
    def phi_step(self) -> float:
        """Grid spacing of the flux axis [Phi0]."""
        return float((self.phi[-1] - self.phi[0]) / (self.phi.size - 1))

    @property
    def shape(self) -> tuple[int, int]:
        """(number of ib points, number of phi points)."""
        return (int(self.ib.size), int(self.phi.size))

    def cell_coefficients(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Per-cell bilinear coefficients [(H-1)*(W-1), 4] = (c0, cx, cy, cxy) on ``device``.

        Cell index = y0 * (W - 1) + x0 for the lower-left grid point (y0 on ib, x0 on phi).
        """
        key = (str(device), dtype)
        cached = self._cells.get(key)
        if cached is not None:
            return cached
        g = torch.as_tensor(self.g, dtype=torch.float64)
        c0 = g[:-1, :-1]
        cx = g[:-1, 1:] - g[:-1, :-1]
        cy = g[1:, :-1] - g[:-1, :-1]
        cxy = g[1:, 1:] - g[1:, :-1] - g[:-1, 1:] + g[:-1, :-1]
        coeffs = torch.stack([c0, cx, cy, cxy], dim=-1).reshape(-1, 4)
        coeffs = coeffs.to(device=device, dtype=dtype).contiguous()
        self._cells[key] = coeffs
        return coeffs


def load_rate_table(path: Path | str = RATE_TABLE_PATH) -> RateTable:
    """Read a rate table .npz (arrays ``ib``, ``phi``, ``g``) without unpickling anything."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"rate table not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = {"ib", "phi", "g"} - set(data.files)
        if missing:
            raise ValueError(
                f"rate table {path} lacks arrays {sorted(missing)}; it must hold ib, phi and g"
            )
        return RateTable(
            ib=np.asarray(data["ib"], dtype=np.float64),
            phi=np.asarray(data["phi"], dtype=np.float64),
            g=np.asarray(data["g"], dtype=np.float64),
        )


@lru_cache(maxsize=1)
def default_rate_table() -> RateTable:
    """The packaged SQUID rate table (loaded once per process)."""
    return load_rate_table(RATE_TABLE_PATH)
