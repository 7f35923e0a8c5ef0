"""Builds and loads the compiled scan kernel (C, compiled on first use, cached per machine).

The C text (``native_scan_csource``, ``native_scan_ckernels``) is instantiated for float32 and
float64, compiled once per machine with the system C compiler (about a second:
``cc -O3 -shared``, no Python or torch headers), cached under ``$XDG_CACHE_HOME/soen_train``
(default ``~/.cache/soen_train``) and loaded with ctypes. Without a C compiler, or with
``SOEN_TRAIN_NATIVE=0``, ``library()`` is None and the simulator uses the PyTorch scan.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

from .native_scan_ckernels import C_DENDRITE_SCAN, C_NOCC_SCAN
from .native_scan_csource import C_BUILDING_BLOCKS, C_PARALLEL_PARTS

ENV_SWITCH = "SOEN_TRAIN_NATIVE"
#: "0" makes the kernel use its own blocked product for internal connections instead of the
#: BLAS that torch links (the BLAS is faster; the switch lets tests cover both).
BLAS_SWITCH = "SOEN_TRAIN_NATIVE_BLAS"
#: "0" runs the batch parts on worker threads of our own instead of torch's OpenMP threads.
OPENMP_SWITCH = "SOEN_TRAIN_NATIVE_OPENMP"

_MATH = ("POW", "COS", "SIN", "EXP", "TANH", "FLOOR", "SQRT")

#: Exported C functions (each built as <name>_f32 and <name>_f64).
ENTRY_POINTS = ("scan_forward", "scan_backward", "nocc_forward", "nocc_backward")


def _instantiate(real: str, suffix: str, math_suffix: str) -> str:
    """The C text for one float type: REAL, function suffix and libm variants (powf / pow)."""
    defines = "".join(f"#define M_{name}(...) {name.lower()}{math_suffix}(__VA_ARGS__)\n" for name in _MATH)
    undefs = "".join(f"#undef M_{name}\n" for name in _MATH)
    template = C_BUILDING_BLOCKS + C_DENDRITE_SCAN + C_NOCC_SCAN
    return defines + template.replace("REAL", real).replace("_SUF", suffix) + undefs


#: Values per chunk of a scan step's elementwise work (SOEN_CH in the C text).
CHUNK = 512

C_SOURCE = (f"#include <math.h>\n#include <stdint.h>\n#define SOEN_RB 4\n#define SOEN_DB 16\n#define SOEN_CH {CHUNK}\n"
            + C_PARALLEL_PARTS + _instantiate("float", "_f32", "f") + _instantiate("double", "_f64", ""))
_CFLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c99", "-ffp-contract=off", "-fno-trapping-math"]

_lock = threading.Lock()
_state: dict[str, object] = {"lib": None, "tried": False, "error": None}
_symbols: dict[str, object] = {}  # _TORCH_SYMBOLS, looked up once


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "soen_train"


def _cpu_signature() -> str:
    """CPU model and feature flags (Linux) or the platform string elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.platform() + platform.processor()
    keep = [line for line in text.splitlines() if line.startswith(("flags", "model name"))]
    return "\n".join(sorted(set(keep)))


def _compiler() -> str | None:
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _build() -> ctypes.CDLL:
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found (set CC, or install cc/gcc)")
    # -march=native: the build is keyed by this CPU's feature flags, so a shared cache
    # directory never hands one machine another machine's instructions.
    key = C_SOURCE + " ".join(_CFLAGS) + compiler + _cpu_signature()
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    target = _cache_dir() / f"soen_scan_{digest}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            source = Path(tmp) / "soen_scan.c"
            source.write_text(C_SOURCE)
            built = Path(tmp) / target.name
            # Compilers without -march=native (some non-x86 toolchains) get a portable build.
            for flags in (_CFLAGS, [f for f in _CFLAGS if f != "-march=native"]):
                result = subprocess.run([compiler, *flags, "-o", str(built), str(source), "-lm"],
                                        capture_output=True, text=True, timeout=120, check=False)
                if result.returncode == 0:
                    break
            if result.returncode != 0:
                raise RuntimeError(f"{compiler} failed: {result.stderr.strip()[:500]}")
            os.replace(built, target)
    lib = ctypes.CDLL(str(target))
    for name in ENTRY_POINTS:
        for suffix in ("_f32", "_f64"):
            getattr(lib, name + suffix).restype = None
    lib.run_parts.restype = None
    return lib


def enabled() -> bool:
    """False when ``SOEN_TRAIN_NATIVE`` is set to 0/false/off."""
    return _switched_on(ENV_SWITCH)


def library() -> ctypes.CDLL | None:
    """The compiled kernel, building it on first use; None when unavailable or disabled."""
    if not enabled():
        return None
    if _state["tried"]:
        return _state["lib"]  # type: ignore[return-value]
    with _lock:
        if not _state["tried"]:
            try:
                _state["lib"] = _build()
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                _state["error"] = str(exc)
                warnings.warn(f"soen_train: compiled scan unavailable, using the PyTorch scan ({exc})",
                              RuntimeWarning, stacklevel=3)
            _state["tried"] = True
    return _state["lib"]  # type: ignore[return-value]


def build_error() -> str | None:
    """Why the last build failed (None when it did not, or was not tried)."""
    return _state["error"]  # type: ignore[return-value]


def _switched_on(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "off", "no")


#: Symbols the kernel borrows from the libraries torch loaded: the BLAS gemm and its
#: thread pinning (MKL, exported by libtorch_cpu on x86 wheels) and the OpenMP runtime's
#: parallel-region entry with its thread queries (found through libtorch_cpu's dependencies).
_TORCH_SYMBOLS = ("sgemm_", "dgemm_", "MKL_Set_Num_Threads_Local", "GOMP_parallel", "omp_get_thread_num",
                  "omp_get_num_threads")


def _find_torch_symbols() -> dict[str, int | None]:
    """Addresses of ``_TORCH_SYMBOLS`` as libtorch_cpu resolves them; missing ones are None."""
    import torch

    found: dict[str, int | None] = dict.fromkeys(_TORCH_SYMBOLS)
    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
    except OSError:
        return found
    for name in found:
        try:
            found[name] = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        except AttributeError:
            pass
    return found


def _torch_symbol(name: str) -> int | None:
    if not _symbols:
        _symbols.update(_find_torch_symbols())
    return _symbols[name]  # type: ignore[return-value]


def openmp_pointers() -> tuple[int, int, int] | None:
    """(GOMP_parallel, omp_get_thread_num, omp_get_num_threads) of torch's OpenMP runtime, or
    None (torch built without OpenMP, or ``SOEN_TRAIN_NATIVE_OPENMP=0``: worker threads of our
    own then run the batch parts)."""
    names = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")
    if not _switched_on(OPENMP_SWITCH) or any(_torch_symbol(name) is None for name in names):
        return None
    return tuple(_torch_symbol(name) for name in names)  # type: ignore[return-value]


def blas_pointers(double: bool) -> tuple[int | None, int | None]:
    """(gemm, set-threads) function addresses the kernel calls for the internal-weight product,
    or (None, None) to use its own blocked product (no BLAS found, or ``SOEN_TRAIN_NATIVE_BLAS=0``).
    Only MKL's gemm is used: its thread count can be pinned to the calling thread."""
    if not _switched_on(BLAS_SWITCH):
        return None, None
    gemm = _torch_symbol("dgemm_" if double else "sgemm_")
    threads = _torch_symbol("MKL_Set_Num_Threads_Local")
    if gemm is None or threads is None:
        return None, None
    return gemm, threads  # type: ignore[return-value]
