"""Memory and CPU time of a process from /proc (no dependencies: the raw loops import it too)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    out = {}
    for field, name in (("VmRSS", "rss_mb"), ("VmHWM", "peak_rss_mb")):
        found = re.search(rf"{field}:\s+(\d+) kB", status)
        if found:
            out[name] = round(int(found[1]) / 1024, 1)
    return out


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
