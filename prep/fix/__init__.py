"""``seedance-prep fix``: conform a request and its media into a new folder, never touching the originals.

The planner (:mod:`.plan`, :mod:`.request`) is pure and takes every target number from the rule set; the
executors (:mod:`.images`, :mod:`.video`, :mod:`.audio`) write one output each, atomically; :mod:`.run`
ties them together and checks the result again. The records they share are in :mod:`.model`.

From Python::

    from prep.fix import fix
    result = fix("request.json", "fixed", unsafe=False)
    result.plan.jobs, result.remaining   # what was planned and done, and what still fails
"""

from __future__ import annotations


def fix(request_path: str, out_dir: str | None = None, *, profile: str | None = None, rules: tuple[str, ...] = (),
        diff: bool = False, jobs: int | None = None, cache: bool = True, **options):
    """Fix one request file into ``out_dir`` (with ``diff``, only plan it) and return its
    :class:`~prep.fix.run.FixResult`. ``options`` are :class:`~prep.fix.model.FixOptions` fields
    (``unsafe``, ``aspect``, ``pad_color``, ``trim``, ``max_side``, ``extract``, ``flatten``); ``rules`` are extra
    rule files, as ``--rules``; ``cache`` False makes every job run again (as ``--no-cache``). Raises :class:`~prep.model.PrepError` when it cannot run."""
    from ..lint import Checker
    from ..ruleset import RuleBook
    from .model import FixOptions
    from .run import fix_requests

    checker = Checker(RuleBook(extra_files=list(rules)), profile=profile)
    try:
        return fix_requests([request_path], out_dir, FixOptions(**options), checker, diff=diff, jobs=jobs,
                            cache=cache)[0]
    finally:
        checker.close()


from .._callable import make_callable  # noqa: E402  (after fix(): prep.fix(...) calls it)

make_callable(__name__, "fix")
