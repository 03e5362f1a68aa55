"""Which files a ``fix`` run takes: request files as given, folders expanded to their request files."""

from __future__ import annotations

import json
import os

from ..model import PrepError


def request_paths(raw: list[str], out_dir: str | None) -> tuple[list[str], list[str]]:
    """``(paths to fix, files passed over)``. A file named on the command line is always fixed (a file
    that is not a request is then an error, exit 2); a folder gives its ``*.json`` files recursively, as
    ``check`` walks it, less those that are plainly not Seedance requests (``package.json``, a report:
    JSON with none of ``model``/``content``/``prompt``) and less anything inside ``out_dir`` (a folder
    fixed into itself would pick up its own output the next run)."""
    from ..lint import REQUEST_KEYS, ReadError, iter_sources

    out = os.path.realpath(out_dir) + os.sep if out_dir else None
    paths: list[str] = []
    passed: list[str] = []
    for given in raw:
        if given == "-":
            raise PrepError("fix reads request files; standard input (-) is not one")
        folder = os.path.isdir(given)
        for path in iter_sources([given]):
            if isinstance(path, ReadError):
                raise PrepError(f"{path.path}: {path.message}")
            if not folder:
                paths.append(path)
            elif out and os.path.realpath(path).startswith(out):
                continue
            elif _is_request(path, REQUEST_KEYS):
                paths.append(path)
            else:
                passed.append(path)
    if not paths:
        raise PrepError(f"no request files found in {', '.join(raw)}")
    return list(dict.fromkeys(paths)), passed


def _is_request(path: str, keys: frozenset) -> bool:
    """A broken file may be a request (it is fixed, and its error reported); only well-formed JSON that
    is no object, or an object with no request key, is passed over."""
    try:
        with open(path, "rb") as fh:
            document = json.loads(fh.read())
    except (OSError, ValueError):
        return True
    return isinstance(document, dict) and bool(keys & document.keys())
