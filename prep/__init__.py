"""seedance-prep: make every Seedance 2.0 video-generation request right before a credit is spent.

Library entry points (each imports only what it needs):
``prep.lint.Checker`` (``check_bytes``, ``check_source``, ``inspect_file``) and ``prep.lint.check_all``
(lint requests), ``prep.engine.evaluate`` (the pure core), ``prep.dialects.parse`` / ``render`` (API
shapes), ``prep.ruleset.RuleBook`` (the rule sets), ``prep.inspect.inspect_path`` (media facts),
``prep.fix(request_path, out_dir, unsafe=False, …)`` (conform a request and its media).
"""

__version__ = "0.1.0"

# ``prep.fix(...)``, ``prep.build(...)``, ``prep.submit(...)``: each imported on first use (start-up stays
# light: ``import prep`` imports nothing else).
_LAZY = frozenset({"fix", "build", "submit", "client"})


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
