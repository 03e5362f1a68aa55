"""seedance-prep: make every Seedance 2.0 video-generation request right before a credit is spent.

Library entry points (each imports only what it needs):
``prep.lint.Checker`` (``check_bytes``, ``check_source``, ``inspect_file``) and ``prep.lint.check_all``
(lint requests), ``prep.engine.evaluate`` (the pure core), ``prep.dialects.parse`` / ``render`` (API
shapes), ``prep.ruleset.RuleBook`` (the rule sets), ``prep.inspect.inspect_path`` (media facts).
"""

__version__ = "0.1.0"
