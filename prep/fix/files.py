"""Output files written so that no half-written file is ever left: a temporary file beside the target,
renamed over it only when complete (Ctrl-C, a killed encoder or a full disk leave nothing behind)."""

from __future__ import annotations

from ..paths import atomic_output, write_atomic

__all__ = ["atomic_output", "size_text", "write_bytes_atomic"]

# Where every output file is written (temp file + rename): one implementation for the whole package.
write_bytes_atomic = write_atomic


def size_text(n: int) -> str:
    """A byte count as people read it: "30 MB", "2.5 kB", "512 bytes" (MB = 1024² bytes, as the rules)."""
    if n >= 1 << 20:
        return f"{n / (1 << 20):.4g} MB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.4g} kB"
    return f"{n} bytes"
