"""Child processes of the live effect (the view, the control process): how they are ended."""

from __future__ import annotations

import subprocess

__all__ = ["end_child"]


def end_child(proc: subprocess.Popen, timeout: float = 5.0) -> int:
    """Close the child's stdin (its cue to exit, as when this process dies), wait up to
    ``timeout`` seconds, then kill it; returns its exit status."""
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode
