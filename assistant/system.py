"""Facts about the machine the assistant runs on."""
from __future__ import annotations

import os


def cores() -> int:
    """CPU cores this process may use (its affinity mask, not the machine's count)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
