"""Compiled fast path for the dendrite time scans: the Python side of the C kernel.

The PyTorch scan in ``dendrite_scan`` spends most of its time dispatching ~20 small
tensor ops per time step. The C kernel (text in ``native_scan_csource`` and
``native_scan_ckernels``, built and loaded by ``native_scan_build``) runs every neuron's time
loop in one call, with the source function evaluated inline and the internal connection's
product through the BLAS torch links (``native_scan_build.blas_pointers``). This module checks
what the kernel supports and calls it on raw tensor memory, split over the batch across
``torch.get_num_threads()`` threads: torch's own OpenMP threads, so the kernel never competes
with the threads torch's products leave spinning (ctypes releases the GIL). The first call
also keeps freed host memory for reuse (``host_memory``). MultiplierNOCC's three-state scan
has its own wrapper, ``native_scan_nocc``.

Nothing depends on it: without a C compiler, or with ``SOEN_TRAIN_NATIVE=0``, the
simulator uses the PyTorch scan (same equations; tests check both agree). Only CPU
float32/float64 tensors and the built-in source functions take this path.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from .host_memory import retain_freed_pages
from .native_scan_build import (
    BLAS_SWITCH,
    CHUNK,
    ENV_SWITCH,
    OPENMP_SWITCH,
    blas_pointers,
    build_error,
    enabled,
    library,
    openmp_pointers,
)
from .source_functions import (
    HeavisideFitStateDep,
    RateArray,
    ReLUSource,
    SimpleGELUSource,
    SourceFunction,
    TanhGauss1p7IBFit,
    TanhSource,
    TeluSource,
)

__all__ = ["BLAS_SWITCH", "ENV_SWITCH", "OPENMP_SWITCH", "blas_pointers", "SOURCE_CODES", "backward", "build_error", "enabled", "forward", "library",
           "padded_rows", "source_table", "supports"]

#: Source-function classes the C kernel evaluates inline, with their codes.
SOURCE_CODES: dict[type, int] = {
    RateArray: 0, HeavisideFitStateDep: 1, TanhSource: 2, ReLUSource: 3, SimpleGELUSource: 4,
    TeluSource: 5, TanhGauss1p7IBFit: 6,
}

_pool: dict[str, object] = {"executor": None, "pid": None}


def supports(tensor: Tensor, source: SourceFunction, recurrent: bool = False) -> bool:
    """True when the compiled scan can run this dtype/device/source (any width; ``recurrent``
    is accepted for callers that name it: the blocked product handles any internal weight)."""
    del recurrent
    return (tensor.device.type == "cpu" and tensor.dtype in (torch.float32, torch.float64)
            and type(source) in SOURCE_CODES and library() is not None)


def source_table(source: SourceFunction, ref: Tensor) -> tuple:
    """(table tensor or None, geometry) the kernel needs for ``source``."""
    if isinstance(source, RateArray):
        return source.table.cell_coefficients(ref.device, ref.dtype), source.geometry
    return None, (0.0, 0.0, 0.0, 0.0, 0, 0)


#: Column strip of the blocked internal-weight product (SOEN_DB in the C source).
COLUMN_BLOCK = 16


def padded_rows(matrix: Tensor) -> Tensor:
    """A contiguous copy of a [D, D] matrix with its rows zero-padded to a multiple of
    ``COLUMN_BLOCK`` columns (the layout the blocked product reads)."""
    rows, cols = matrix.shape
    width = -(-cols // COLUMN_BLOCK) * COLUMN_BLOCK
    out = matrix.new_zeros(rows, width)
    out[:, :cols] = matrix.detach()
    return out


def _addr(address: int | None) -> ctypes.c_void_p | None:
    return None if address is None else ctypes.c_void_p(address)


def _ptr(tensor: Tensor | None) -> ctypes.c_void_p | None:
    return None if tensor is None else ctypes.c_void_p(tensor.data_ptr())


def _rows(batch: int, work: int) -> list[Sequence[int]]:
    """Batch row ranges, one per thread when the work is large enough to split."""
    threads = max(1, torch.get_num_threads())
    if threads == 1 or batch < 2 or work < 20_000:
        return [(0, batch)]
    parts = min(threads, batch)
    edges = [round(i * batch / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts) if edges[i + 1] > edges[i]]


def _executor() -> ThreadPoolExecutor:
    """The worker threads (recreated in a forked child, whose copy of the pool has no threads)."""
    if _pool["executor"] is None or _pool["pid"] != os.getpid():
        _pool["executor"] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="soen-scan")
        _pool["pid"] = os.getpid()
    return _pool["executor"]  # type: ignore[return-value]


#: The C signature of a batch part handed to ``run_parts``.
_PART = ctypes.CFUNCTYPE(None, ctypes.c_int)


def _run(fn, ranges: list[Sequence[int]], make_args) -> None:
    """Call the kernel ``fn`` on every batch range, part 0 on the calling thread.

    The other parts run on torch's OpenMP threads when its runtime is found (the threads
    torch's matrix products leave spinning, so nothing competes for the cores), else on
    worker threads of our own. Each part releases the GIL while the kernel runs.
    """
    retain_freed_pages()  # the next call's histories reuse this one's pages (host_memory)
    calls = [make_args(lo, hi) for lo, hi in ranges]  # in order: make_args may hand out buffers
    if len(calls) == 1:
        fn(*calls[0])
        return
    openmp = openmp_pointers()
    if openmp is None:
        futures = [_executor().submit(fn, *args) for args in calls[1:]]
        fn(*calls[0])
        for future in futures:
            future.result()
        return
    errors: list[BaseException] = []

    def part(index: int) -> None:
        try:
            fn(*calls[index])
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread below
            errors.append(exc)

    callback = _PART(part)
    library().run_parts(*(ctypes.c_void_p(address) for address in openmp), ctypes.c_int(len(calls)), callback)
    if errors:
        raise errors[0]


def _i(value: int) -> ctypes.c_int64:
    return ctypes.c_int64(int(value))


def _per_row(coeff: Tensor, batch: int, dim: int) -> Tensor:
    """A [D] or [B, D] coefficient as a contiguous [B, D] tensor: the kernel runs a step's rows
    end to end, so every per-node array must repeat per batch row (a few KiB)."""
    return coeff.expand(batch, dim).contiguous()


def forward(X: Tensor, bias: Tensor | None, s0: Tensor, J: Tensor | None, a: Tensor, c: Tensor,
            IB: Tensor | None, g_noise: Tensor | None, s_noise: Tensor | None,
            source: SourceFunction, slopes: bool, phi_y: Tensor | None = None,
            phi_y_slopes: bool = False, record: bool = True) -> tuple:
    """Compiled forward scan with the arguments of ``dendrite_scan`` (X [T,B,D]; bias, a, c [D] or
    [B,D]; IB [D], [B,D] or [T,B,D]); X, s0, J and the noise tensors must be contiguous.
    ``phi_y`` ([D] or [B,D], weight flux [Phi0]) selects the multiplier drive
    g(phi + phi_y, IB - s) - g(phi - phi_y, IB + s).

    Returns (H [T+1,B,D], PHI [T,B,D] or empty, G, DPHI or None, DI or None, DPY or None,
    DIB or None); DI is -dG/ds, DPY = dG/dphi_y and DIB = dG/dIB (multiplier only). With
    ``record`` False (a forward without gradients whose flux and drive nobody reads) PHI and G
    come back empty: the kernel keeps them in per-row scratch instead of [T, B, D] histories.
    """
    if slopes and not record:
        raise ValueError("native_scan.forward: slopes need the recorded drive (record=True)")
    lib = library()
    table, geometry = source_table(source, X)
    steps, batch, dim = X.shape
    suffix = "_f32" if X.dtype == torch.float32 else "_f64"
    fn = getattr(lib, "scan_forward" + suffix)
    H = X.new_empty(steps + 1, batch, dim)
    G = X.new_empty(steps, batch, dim) if record else X.new_empty(0)
    PHI = X.new_empty(steps, batch, dim) if (J is not None and record) else X.new_empty(0)
    DPHI = X.new_empty(steps, batch, dim) if slopes else None
    DI = X.new_empty(steps, batch, dim) if (slopes and IB is not None) else None
    multiplier = phi_y is not None
    DPY = X.new_empty(steps, batch, dim) if (slopes and multiplier and phi_y_slopes) else None
    DIB = X.new_empty(steps, batch, dim) if (DI is not None and multiplier) else None
    JT = padded_rows(J.t()) if J is not None else None
    ranges = _rows(batch, steps * batch * dim * (dim if J is not None else 1))
    work_iter = iter([X.new_empty(14 * max(dim, CHUNK) + (hi - lo) * dim) for lo, hi in ranges])
    gemm, blas_threads = blas_pointers(X.dtype == torch.float64)
    inv_dphi, inv_dib, phi0, ib0, h, w = geometry
    rows = {name: (None if coeff is None else _per_row(coeff, batch, dim))
            for name, coeff in (("bias", bias), ("a", a), ("c", c), ("py", phi_y))}
    ib_rows, ib_st = None, 0
    if IB is not None:
        ib_rows = IB.contiguous() if IB.dim() == 3 else _per_row(IB, batch, dim)
        ib_st = batch * dim if IB.dim() == 3 else 0

    def args(lo, hi):
        return (_i(steps), _i(batch), _i(dim), _i(lo), _i(hi), _ptr(X), _ptr(rows["bias"]),
                _ptr(s0), _ptr(JT), _i(JT.shape[1] if JT is not None else 0),
                _ptr(rows["a"]), _ptr(rows["c"]), _ptr(ib_rows), _i(ib_st),
                _ptr(g_noise), _ptr(s_noise), _ptr(rows["py"]),
                ctypes.c_int(SOURCE_CODES[type(source)]), _ptr(table),
                _i(h), _i(w), ctypes.c_double(inv_dphi), ctypes.c_double(inv_dib),
                ctypes.c_double(phi0), ctypes.c_double(ib0), ctypes.c_int(int(slopes)),
                _ptr(H), _ptr(G) if record else None, _ptr(PHI) if (J is not None and record) else None,
                _ptr(DPHI), _ptr(DI),
                _ptr(DPY), _ptr(DIB), _ptr(next(work_iter)), _addr(gemm), _addr(blas_threads))

    _run(fn, ranges, args)
    return H, PHI, G, DPHI, DI, DPY, DIB


def backward(H: Tensor, G: Tensor, DPHI: Tensor, DI: Tensor | None, J: Tensor | None, a: Tensor,
             c: Tensor, gH: Tensor | None, gG: Tensor | None, gPHI: Tensor | None,
             full_ib: bool, want_u: bool = False) -> tuple:
    """Compiled adjoint pass; returns (P, grad_s0, sum lam*s, sum lam*G, sum u*di, u*di per step,
    sum P, U) with the sums per batch row [B, D] and U = dL/dG per step (None unless
    ``want_u``)."""
    lib = library()
    steps, batch, dim = G.shape
    suffix = "_f32" if G.dtype == torch.float32 else "_f64"
    fn = getattr(lib, "scan_backward" + suffix)
    P = G.new_empty(steps, batch, dim)
    grad_s0, lam_s, lam_g, u_di, p_sum = (G.new_empty(batch, dim) for _ in range(5))
    u_di_full = G.new_empty(steps, batch, dim) if (full_ib and DI is not None) else None
    U = G.new_empty(steps, batch, dim) if want_u else None
    ranges = _rows(batch, steps * batch * dim * (dim if J is not None else 1))
    work_iter = iter([G.new_empty((4 + hi - lo) * dim) for lo, hi in ranges])
    gemm, blas_threads = blas_pointers(G.dtype == torch.float64)
    a_rows, c_rows = _per_row(a, batch, dim), _per_row(c, batch, dim)
    JP = padded_rows(J) if J is not None else None

    def args(lo, hi):
        return (_i(steps), _i(batch), _i(dim), _i(lo), _i(hi), _ptr(H), _ptr(G), _ptr(DPHI), _ptr(DI),
                _ptr(JP), _i(JP.shape[1] if JP is not None else 0), _ptr(a_rows), _ptr(c_rows), _ptr(gH), _ptr(gG),
                _ptr(gPHI), _ptr(P), _ptr(grad_s0), _ptr(lam_s), _ptr(lam_g), _ptr(u_di),
                _ptr(u_di_full), _ptr(p_sum), _ptr(U), _ptr(next(work_iter)), _addr(gemm),
                _addr(blas_threads))

    _run(fn, ranges, args)
    return P, grad_s0, lam_s, lam_g, u_di, u_di_full, p_sum, U
