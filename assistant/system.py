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
    with 2 encoder threads."""
    global _blas_limit
    if _blas_limit is None:
        from threadpoolctl import threadpool_limits

        _blas_limit = threadpool_limits(limits=1, user_api="blas")  # kept: dropping it keeps the limit too
