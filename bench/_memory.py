"""Peak memory of the running process, for benchmarks that measure in a child process."""

from __future__ import annotations

import resource


def peak_rss_mib() -> float:
    """This process's own peak resident set (VmHWM).

    ``ru_maxrss`` is not it: Linux carries the parent's high-water mark across fork and exec, so a child
    started by a parent that had built a 300k-entry book would report the parent's peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
