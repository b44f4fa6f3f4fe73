"""Facts about the machine the assistant runs on."""
from __future__ import annotations

import os


def cores() -> int:
    """CPU cores this process may use (its affinity mask, not the machine's count)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


_blas_limit = None


def single_threaded_blas() -> None:
    """Run numpy's BLAS on one thread in this process (once; later calls do nothing).

    A query's matrix products are small (candidates × dimensions); a multi-threaded BLAS
    gains nothing on them, and its threads, spinning after each call, take the cores from
    the ONNX query encoder running next: measured on 2 cores, warm search p50 45 → 23 ms
    with 2 encoder threads. FAISS's own BLAS is left alone: it trains and fills large
    indexes, and a single query does not call it."""
    global _blas_limit
    if _blas_limit is None:
        import numpy  # noqa: F401 (its BLAS must be loaded to be found)
        from threadpoolctl import ThreadpoolController

        ctl = ThreadpoolController()
        prefixes = [m["prefix"] for m in ctl.info() if m["user_api"] == "blas" and "numpy" in m["filepath"]]
        _blas_limit = ctl.select(prefix=prefixes).limit(limits=1) if prefixes else False
