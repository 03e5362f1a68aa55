"""Renderers of check results: pure functions from results to the text a CI system reads.

Each module has ``render(results, errors, *, ...) -> str``; ``results`` are ``model.Result`` and
``errors`` the files that could not be read (``lint.ReadError``).
"""

FORMATS = ("text", "json", "github", "sarif")


def render(fmt: str, results, errors, **options) -> str:
    """Render ``results`` in format ``fmt`` (one of FORMATS)."""
    from importlib import import_module

    return import_module(f".{fmt}", __name__).render(results, errors, **options)
