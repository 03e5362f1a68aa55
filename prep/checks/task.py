"""Check kinds over task types: what a task (edit, extend, a frame mode...) requires of the request."""

from __future__ import annotations
