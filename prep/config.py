"""The user's settings: ``[tool.seedance-prep]`` in the nearest ``pyproject.toml``, or ``seedance-prep.toml``.

Keys (kebab-case; snake_case is accepted too): ``profile``, ``select``, ``ignore``, ``fail-on``,
``rules`` (extra rule files, relative to the config file), ``severity`` (rule id or prefix → error,
warning or off), ``max-tokens``, ``remote``, ``allow-private-hosts``, ``format``, ``aliases`` (a reseller's
model name → the model family that judges it, in every profile), ``exclude`` / ``extend-exclude`` (globs
skipped when recursing folders), ``per-file-ignores`` (glob → rule ids or prefixes), ``no-media``,
``jobs``, ``allow-empty``, ``show-source``, ``skip-non-requests``.
An unknown key or a wrong type is a PrepError (exit 2): a typo in CI config must not pass silently.
"""

from __future__ import annotations

import os

from .model import PrepError

_KEYS = {
    "profile": str, "select": list, "ignore": list, "fail-on": str, "rules": list, "severity": dict,
    "max-tokens": int, "remote": bool, "allow-private-hosts": bool, "format": str, "aliases": dict,
    "exclude": list, "extend-exclude": list, "per-file-ignores": dict, "no-media": bool, "jobs": int,
    "allow-empty": bool, "show-source": bool, "skip-non-requests": bool,
}
FORMATS = ("text", "json", "github", "sarif")


class Config:
    """The settings found (None: not set, the command's default applies)."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.profile: str | None = None
        self.select: list[str] | None = None
        self.ignore: list[str] | None = None
        self.fail_on: str | None = None
        self.rules: list[str] = []
        self.severity: dict[str, str] = {}
        self.max_tokens: int | None = None
        self.remote: bool | None = None
        self.allow_private_hosts: bool | None = None
        self.format: str | None = None
        self.aliases: dict[str, str] = {}
        self.exclude: list[str] | None = None
        self.extend_exclude: list[str] = []
        self.per_file_ignores: dict[str, list[str]] = {}
        self.no_media: bool | None = None
        self.jobs: int | None = None
        self.allow_empty: bool | None = None
        self.show_source: bool | None = None
        self.skip_non_requests: bool | None = None


def _parse(path: str, table_path: tuple[str, ...]) -> dict | None:
    import tomllib

    try:
        with open(path, encoding="utf-8") as fh:
            data: object = tomllib.loads(fh.read())
    except tomllib.TOMLDecodeError as exc:
        raise PrepError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PrepError(f"{path}: cannot read config: {getattr(exc, 'strerror', None) or exc}") from None
    for key in table_path:
        data = data.get(key) if isinstance(data, dict) else None
        if data is None:
            return None
    if not isinstance(data, dict):
        raise PrepError(f"{path}: [{'.'.join(table_path)}] must be a table")
    return data


def find_config(start: str) -> tuple[str, tuple[str, ...]] | None:
    """The nearest config at or above ``start``: ``seedance-prep.toml`` before ``pyproject.toml``
    (a pyproject counts only when it has a ``[tool.seedance-prep]`` table)."""
    folder = os.path.abspath(start)
    while True:
        own = os.path.join(folder, "seedance-prep.toml")
        if os.path.isfile(own):
            return own, ()
        py = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(py):
            try:
                with open(py, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                text = ""
            if "tool.seedance-prep" in text:
                return py, ("tool", "seedance-prep")
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def load_config(explicit: str | None = None, start: str | None = None) -> Config:
    """The config named by ``--config``, else the nearest one found from ``start`` (the cwd), else defaults."""
    if explicit == os.devnull:
        return Config()  # --config /dev/null: no config at all, whatever the folder holds
    if explicit:
        path = explicit
        if not os.path.isfile(path):
            raise PrepError(f"{explicit}: config file not found")
        table: tuple[str, ...] = ("tool", "seedance-prep") if os.path.basename(path) == "pyproject.toml" else ()
        data = _parse(path, table)
        if data is None:
            raise PrepError(f"{explicit}: has no [tool.seedance-prep] table")
    else:
        found = find_config(start or os.getcwd())
        if found is None:
            return Config()
        path, table = found
        data = _parse(path, table)
        if data is None:
            return Config()
    config = Config(path=path)
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        want = _KEYS.get(key)
        if want is None:
            raise PrepError(f"{path}: unknown setting '{raw_key}' (known: {', '.join(_KEYS)})")
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise PrepError(f"{path}: '{raw_key}' must be {want.__name__.replace('dict', 'a table')}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise PrepError(f"{path}: '{raw_key}' must be a list of strings")
        setattr(config, key.replace("-", "_"), value)
    if config.fail_on not in (None, "error", "warning"):
        raise PrepError(f"{path}: 'fail-on' must be error or warning")
    if config.format not in (None, *FORMATS):
        raise PrepError(f"{path}: 'format' must be one of {', '.join(FORMATS)}")
    for glob, ids in config.per_file_ignores.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise PrepError(f"{path}: per-file-ignores '{glob}' must be a list of rule ids or prefixes")
    if config.jobs is not None and config.jobs < 0:
        raise PrepError(f"{path}: 'jobs' must be 0 or more")
    for alias, family in config.aliases.items():
        if not isinstance(family, str):
            raise PrepError(f"{path}: alias '{alias}' must name a model family, e.g. \"seedance-2.0\"")
    for rule, level in config.severity.items():
        if level not in ("error", "warning", "off"):
            raise PrepError(f"{path}: severity of '{rule}' must be error, warning or off")
    config.rules = [os.path.abspath(os.path.join(os.path.dirname(path), r)) for r in config.rules]
    return config
