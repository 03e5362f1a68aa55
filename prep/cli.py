"""Command-line parsing only: every command calls the library and turns its outcome into an exit code.

Exit codes (every command): 0 nothing at or above the fail severity; 1 findings at or above it;
2 the tool could not do its job (bad flags, unknown profile or rule, missing path, config error).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from .model import PrepError

PROG = "seedance-prep"


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, minus its import of shutil (and bz2, lzma) just to learn the width."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                width = os.get_terminal_size().columns - 2
            except OSError:
                width = 78
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2 (instead of usage + message)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # noqa: D401 - argparse API
        raise PrepError(f"{message} (see '{self.prog} --help')")


def _ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for chunk in values for v in chunk.split(",") if v.strip()]


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


PROFILES = "ark (default), byteplus, apiyi, gateway, video-generations, openai-videos"


def _common(profile_help: str, quiet: str | None = None) -> _Parser:
    """The flags every command shares (``quiet``: what -q means for it; None: no -q)."""
    common = _Parser(add_help=False)
    common.add_argument("--profile", metavar="NAME", help=f"{profile_help}; one of {PROFILES}, or one a --rules file adds")
    common.add_argument("--config", metavar="FILE", help="config file (default: nearest pyproject.toml [tool.seedance-prep] "
                                                         "or seedance-prep.toml; /dev/null for none)")
    common.add_argument("--rules", metavar="FILE", action="append", default=[], help="extra or overriding rule file (repeatable)")
    if quiet:
        common.add_argument("-q", "--quiet", action="store_true", help=quiet)
    common.add_argument("--color", choices=("auto", "always", "never"),
                        help="ANSI colours (default auto: on a terminal, unless NO_COLOR; FORCE_COLOR forces them)")
    common.add_argument("--no-color", action="store_true", help="same as --color never")
    common.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    return common


COMMANDS = ("check", "inspect", "fix", "rules", "schema", "build", "submit", "tasks", "status", "cancel", "download",
            "emulate")
_API_COMMANDS = COMMANDS[5:]  # prep/cli_api.py: built only when one of them (or --help) runs
_DEEP_HELP = ("decode the first and last second of each video and audio file with ffmpeg (imageio-ffmpeg) and each "
              "image with Pillow: a file that does not decode is media.unreadable (slower: 0.02–0.3 s a file; "
              "SEEDANCE_PREP_DEEP_TIMEOUT seconds at most, default 20)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with ``only`` (the command being run) the other commands' arguments are not
    built: every start of ``check`` would pay for them (bench/: start-up)."""
    from . import __version__

    parser = _Parser(prog=PROG, description="Make every Seedance request right before a credit is spent.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    if only in (None, "check"):
        check = _common("API profile (default: from config, else inferred from each request's shape and model)",
                        quiet="print findings only: no file headers, hints or summary")
        p = sub.add_parser("check", parents=[check], help="lint request files (folders recurse over *.json; - is stdin)",
                           description="Lint Seedance request files before a credit is spent.")
        p.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                       help="request files or folders (recursing over *.json); - reads standard input; default: .")
        p.add_argument("--format", choices=("text", "json", "github", "sarif"), help="output format (default: text)")
        p.add_argument("--select", action="append", metavar="IDS", help="only these rules (ids or prefixes, comma-separated)")
        p.add_argument("--ignore", action="append", metavar="IDS", help="skip these rules (ids or prefixes, comma-separated)")
        p.add_argument("--fail-on", choices=("error", "warning"), help="lowest severity that makes the exit code 1 (default: error)")
        p.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings (2 still means the tool failed)")
        p.add_argument("--max-tokens", type=_non_negative_int, metavar="N", help="fail when the estimated cost exceeds N tokens")
        p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (atomically) instead of stdout")
        p.add_argument("--statistics", action="store_true", help="print how many findings each rule has, not the findings")
        p.add_argument("--show-source", action="store_true", default=None,
                       help="print the source line of each finding with a caret under the value")
        p.add_argument("--show-settings", action="store_true",
                       help="print the settings in effect (config file, profile, rule files, selection) and exit")
        p.add_argument("--compact", action="store_true", help="json and sarif on one line (faster for big batches)")
        p.add_argument("--exclude", metavar="GLOBS", action="append",
                       help="skip files and folders matching these globs when recursing (replaces the default: hidden "
                            "ones, node_modules, __pycache__)")
        p.add_argument("--extend-exclude", metavar="GLOBS", action="append", help="skip these globs too (comma-separated)")
        p.add_argument("--allow-empty", action="store_true", default=None,
                       help="exit 0 when no request file is found (default: exit 2)")
        p.add_argument("--skip-non-requests", action="store_true", default=None,
                       help="skip JSON files that are not requests (no model, content or prompt key): for pre-commit")
        p.add_argument("--jobs", "-j", type=_non_negative_int, metavar="N",
                       help="worker processes for large batches (default: one per CPU; 1: none)")
        p.add_argument("--remote", action="store_true", default=None,
                       help="also inspect http(s) media URLs (bounded: timeouts, byte cap, no private hosts)")
        p.add_argument("--allow-private-hosts", action="store_true", default=None,
                       help="with --remote, allow loopback/private/link-local addresses")
        p.add_argument("--no-media", action="store_true", default=None, help="do not inspect any media (request rules only)")
        p.add_argument("--deep", action="store_true", help=_DEEP_HELP)
        p.set_defaults(func=cmd_check)

    if only in (None, "inspect"):
        inspect = _common("whose media rules apply (default: from config, else ark)", quiet="no summary line")
        p = sub.add_parser("inspect", parents=[inspect], help="media facts and media findings for each file",
                           description="Show what is inside media files, and what the profile's media rules say about them.")
        p.add_argument("files", nargs="+", metavar="PATH", help="media files, or folders (recursing over media file names)")
        p.add_argument("--format", choices=("text", "json"), default="text")
        p.add_argument("--fail-on", choices=("error", "warning"), help="lowest severity that makes the exit code 1")
        p.add_argument("--model", metavar="ID", help="judge by this model's family (default: the profile's own family)")
        p.add_argument("--deep", action="store_true", help=_DEEP_HELP)
        p.set_defaults(func=cmd_inspect)

    if only in (None, "fix"):
        fix = _common("API profile (default: from config, else inferred from each request)", quiet="list what was "
                      "not fixed and what remains, not each step")
        p = sub.add_parser("fix", parents=[fix], help="conform requests and their media into a new folder",
                           description="Write a copy of each request, and of its media, that the API accepts: resize, pad, "
                                       "convert, re-encode, reorder, renumber. The originals are never modified.")
        p.add_argument("requests", nargs="+", metavar="REQUEST", help="request files")
        p.add_argument("--out", metavar="DIR", help="output folder: DIR/request.json and DIR/media/ (several requests: "
                                                    "one sub-folder each)")
        p.add_argument("--diff", action="store_true", help="print the plan and the request's JSON diff; write nothing")
        p.add_argument("--unsafe", action="store_true", help="also apply fixes that drop content (trim, crop, drop a "
                                                             "parameter)")
        p.add_argument("--aspect", choices=("pad", "crop"), default="pad", help="bring a ratio into range by padding "
                                                                                "(default) or cropping (unsafe)")
        p.add_argument("--pad-color", default="#000000", metavar="C", help="padding colour #RRGGBB, or blur")
        p.add_argument("--trim", choices=("proportional", "first"), default="proportional",
                       help="how a total-duration budget is shared across clips")
        p.add_argument("--max-side", type=_non_negative_int, metavar="N", help="also scale images to at most N px a side")
        p.add_argument("--extract", action="store_true", help="write fixed data: URL media as files")
        p.add_argument("--flatten", action="store_true", help="write animated images as their first frame")
        p.add_argument("--format", choices=("text", "json"), default="text")
        p.add_argument("--fail-on", choices=("error", "warning"), help="lowest severity that makes the exit code 1")
        p.add_argument("-j", "--jobs", type=_non_negative_int, metavar="N", help="media files fixed at once "
                                                                                    "(default: one per CPU)")
        p.add_argument("--no-cache", action="store_true", help="run every media job again (by default an output "
                                                               "already made from the same bytes the same way is reused)")
        p.set_defaults(func=cmd_fix)

    if only in (None, "rules"):
        p = sub.add_parser("rules", parents=[_common("show the rules as this profile has them (default: every profile)")],
                           help="list the rules (all, or those an id prefix names), or print one rule's documentation")
        p.add_argument("rule_id", nargs="?", metavar="ID", help="a rule id (its page) or a prefix such as param (a list)")
        p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
        p.set_defaults(func=cmd_rules)

    if only in (None, "schema"):
        p = sub.add_parser("schema", parents=[_common("the API profile (default: from config, else ark)")],
                           help="print the JSON Schema (draft 2020-12) of a profile's request")
        p.set_defaults(func=cmd_schema)

    if only is None or only in _API_COMMANDS:
        from .cli_api import add_parsers

        add_parsers(sub, only, lambda text, quiet=None: _common(text, quiet), _non_negative_int)
    return parser


# ---------------------------------------------------------------------------------------------------


def _color(args) -> bool:
    """--color always/never win; else NO_COLOR turns colours off, FORCE_COLOR on, and a terminal decides."""
    choice = "never" if args.no_color else (args.color or "auto")
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def _book(args, config):
    from .ruleset import RuleBook

    return RuleBook([*config.rules, *args.rules], aliases=config.aliases or None)


def _emit(text: str, output: str | None) -> None:
    if output:
        from .paths import write_atomic

        try:
            write_atomic(output, text.encode("utf-8", "backslashreplace"))
        except OSError as exc:
            raise PrepError(f"{output}: cannot write report: {exc.strerror or exc}") from None
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8", "backslashreplace"))  # strict UTF-8 whatever the locale
        sys.stdout.buffer.flush()


def _globs(values: list[str] | None) -> list[str]:
    return [v.strip() for chunk in values or () for v in chunk.split(",") if v.strip()]


def _validate_config_ids(book, config) -> None:
    """Rule ids and prefixes named in the config exist; an unknown one names the config file."""
    from .lint import rule_ids

    named = [*(config.select or ()), *(config.ignore or ()), *config.severity,
             *(i for ids in config.per_file_ignores.values() for i in ids)]
    try:
        rule_ids(book, named)
    except PrepError as exc:
        raise PrepError(f"{config.path}: {exc}") from None


def cmd_check(args, config) -> int:
    from .lint import DEFAULT_EXCLUDE, Checker, ReadError, exit_code, iter_sources, run_batch
    from .report import render

    def setting(flag, key, default=None):
        value = getattr(args, flag)
        return value if value is not None and value is not False else getattr(config, key, None) or default

    fmt = args.format or config.format or "text"
    book = _book(args, config)
    if config.path:
        _validate_config_ids(book, config)
    show_source = bool(setting("show_source", "show_source"))
    exclude = [*(_globs(args.exclude) or config.exclude or DEFAULT_EXCLUDE), *config.extend_exclude,
               *_globs(args.extend_exclude)]
    if args.output:  # never lint the report this run writes
        exclude.append(os.path.abspath(args.output))
    checker = Checker(
        book,
        profile=args.profile or config.profile,
        select_ids=_ids(args.select) or config.select,
        ignore_ids=_ids(args.ignore) or config.ignore,
        severity=config.severity,
        max_tokens=args.max_tokens if args.max_tokens is not None else config.max_tokens,
        locate_findings=True,
        inspect_media=not setting("no_media", "no_media", False),
        estimate=True if fmt == "json" else ("findings" if fmt == "text" and not args.quiet else False),
        remote=bool(setting("remote", "remote", False)),
        allow_private_hosts=bool(setting("allow_private_hosts", "allow_private_hosts", False)),
        per_file_ignores=config.per_file_ignores,
        skip_non_requests=bool(setting("skip_non_requests", "skip_non_requests", False)),
        debug=args.debug,
        deep=_deep(args, args.jobs if args.jobs is not None else config.jobs),
    )
    if args.show_settings:
        sys.stdout.write(_settings_text(args, config, checker, fmt, exclude))
        return 0
    sources = list(iter_sources(args.paths, exclude=exclude))
    if not sources and not setting("allow_empty", "allow_empty", False):
        where = ", ".join(args.paths)
        raise PrepError(f"no request files found in {where} (looked for *.json; --allow-empty to accept that)")
    encode: Callable | None = None
    if fmt == "json" and args.compact:
        from .report.json import encode_results as encode  # serialised by the workers, in parallel
    jobs = args.jobs if args.jobs is not None else config.jobs
    batch = run_batch(checker, sources, jobs, encode)
    results, errors = [], []
    for outcome in batch.outcomes:
        if isinstance(outcome, ReadError):
            errors.append(outcome)
            if fmt not in ("json", "sarif", "github"):
                print(f"{PROG}: error: {_safe(outcome.path)}: {_safe(outcome.message)}", file=sys.stderr)
        else:
            results.append(outcome)
    rules: list = []
    if fmt in ("sarif", "text"):
        used = dict.fromkeys((r.profile, r.family) for r in results if r.profile) or [(checker.fixed_profile or "ark", None)]
        for name, family in used:
            rules.extend(checker.profile_for(name, family).rules)
    _emit(render(fmt, results, errors, color=_color(args) and not args.output, quiet=args.quiet, rules=rules,
                 pretty=not args.compact, encoded=batch.encoded, statistics=args.statistics,
                 show_source=show_source), args.output)
    return exit_code([*results, *errors], args.fail_on or config.fail_on or "error", exit_zero=args.exit_zero)


def _safe(text: str) -> str:
    """Text as strict UTF-8 can carry it: lone surrogates (undecodable file names) shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _settings_text(args, config, checker, fmt: str, exclude: list[str]) -> str:
    profile = checker.fixed_profile or "inferred from each request (ark for content arrays)"
    selected = checker.profile_for(checker.fixed_profile or "ark")
    lines = [
        f"config file:       {config.path or '(none found)'}",
        f"profile:           {profile}",
        f"rule files:        {', '.join([*config.rules, *map(str, args.rules)]) or '(built-in only)'}",
        f"select:            {', '.join(_ids(args.select) or config.select or ['ALL'])}",
        f"ignore:            {', '.join(_ids(args.ignore) or config.ignore or []) or '(none)'}",
        f"severity:          {', '.join(f'{k}={v}' for k, v in config.severity.items()) or '(rule defaults)'}",
        f"per-file-ignores:  {'; '.join(f'{g}: {chr(44).join(i)}' for g, i in config.per_file_ignores.items()) or '(none)'}",
        f"aliases:           {', '.join(f'{a}={f}' for a, f in config.aliases.items()) or '(none)'}",
        f"fail-on:           {args.fail_on or config.fail_on or 'error'}{' (exit-zero)' if args.exit_zero else ''}",
        f"format:            {fmt}",
        f"exclude:           {', '.join(exclude)}",
        (f"media:             {'not inspected' if not checker.inspect_media else 'local and data: URLs'}"
         f"{' and http(s) URLs' if checker.remote else ''}{' (--deep: decoded)' if checker.deep else ''}"),
        f"max-tokens:        {checker.max_tokens if checker.max_tokens is not None else '(no budget)'}",
        f"rules in effect:   {len(selected.rules)} for {selected.name} ({selected.family})",
    ]
    return "\n".join(lines) + "\n"


def _deep(args, jobs: int | None = None):
    """The decoder --deep asks for (a PrepError, exit 2, when ffmpeg is missing), else None."""
    if not args.deep:
        return None
    from .deep import Deep

    return Deep(jobs=jobs)


def cmd_inspect(args, config) -> int:
    from .lint import Checker, ReadError, exit_code
    from .report import media as media_report

    book = _book(args, config)
    checker = Checker(book, profile=args.profile or config.profile, severity=config.severity, deep=_deep(args))
    family = None
    if args.model:  # whose media limits apply: the family of this model (2.5 takes longer clips...)
        name = args.profile or config.profile or "ark"
        if args.model not in book.profile_data(name).get("models", {}):
            raise PrepError(f"unknown model '{args.model}' for profile {name}; "
                            f"known: {', '.join(book.profile_data(name).get('models', {}))}")
        family = book.family_for(name, args.model)
    from .lint import iter_media

    reports, errors = [], []
    paths = list(iter_media(args.files))
    if not paths:
        raise PrepError(f"no media files found in {', '.join(args.files)}")
    if checker.deep is not None:
        checker.deep.warm(paths)  # decode them all in parallel first; inspect_file then answers from memory
    for path in paths:
        outcome = checker.inspect_file(path, family)
        if isinstance(outcome, ReadError):
            errors.append(outcome)
            if args.format == "text":
                print(f"{PROG}: error: {outcome.path}: {outcome.message}", file=sys.stderr)
        else:
            reports.append(outcome)
    sys.stdout.write(media_report.render(reports, errors, fmt=args.format, color=_color(args), quiet=args.quiet))
    return exit_code([*reports, *errors], args.fail_on or config.fail_on or "error")


def cmd_fix(args, config) -> int:
    import re

    from .fix.inputs import request_paths
    from .fix.model import FixOptions
    from .fix.report import Progress, document, text
    from .fix.run import failing, fix_requests
    from .lint import Checker

    if args.pad_color != "blur" and not re.fullmatch(r"#[0-9a-fA-F]{6}", args.pad_color):
        raise PrepError(f"--pad-color {args.pad_color!r}: give #RRGGBB or blur")
    if not args.diff and not args.out:
        raise PrepError("fix needs --out DIR (or --diff to only show the plan)")
    options = FixOptions(unsafe=args.unsafe, aspect=args.aspect, pad_color=args.pad_color, trim=args.trim,
                         max_side=args.max_side or None, extract=args.extract,
                         flatten=args.flatten)
    book = _book(args, config)
    checker = Checker(book, profile=args.profile or config.profile, severity=config.severity)
    # Progress on stderr: live lines on a terminal, plain lines in a log, nothing with -q or JSON.
    paths, passed = request_paths(args.requests, args.out)
    if not args.quiet:
        for path in passed:
            print(f"{path}: not a Seedance request (no model, content or prompt); passed over", file=sys.stderr)
    progress = Progress.for_stream(sys.stderr, quiet=args.quiet or args.format == "json" or args.diff)
    try:
        results = fix_requests(paths, args.out, options, checker, diff=args.diff, jobs=args.jobs,
                               cache=not args.no_cache, progress=progress)
    finally:
        if progress is not None:
            progress.close()
        checker.close()
    fail_on = args.fail_on or config.fail_on or "error"
    if args.format == "json":
        sys.stdout.write(document(results, fail_on=fail_on))
    else:
        sys.stdout.write(text(results, fail_on=fail_on, quiet=args.quiet))
    if args.diff:
        return 1 if any(failing(r.before, fail_on) for r in results) else 0
    return 1 if any(failing(r.remaining, fail_on) for r in results) else 0


def cmd_rules(args, config) -> int:
    from . import docs

    book = _book(args, config)
    if args.rule_id:
        text = docs.rule_page(book, args.rule_id, profile=args.profile or config.profile, fmt=args.format)
    else:
        text = docs.rule_list(book, fmt=args.format, profile=args.profile or config.profile)
    sys.stdout.write(text)
    return 0


def cmd_schema(args, config) -> int:
    import json

    from .schema import request_schema

    from .lint import Checker

    book = _book(args, config)
    name = args.profile or config.profile or "ark"
    # The user's selection and severities apply: a rule they turned off is no constraint here either.
    selected = Checker(book, profile=name, select_ids=config.select, ignore_ids=config.ignore, severity=config.severity)
    schema = request_schema(book, name, selected.profile_for)
    sys.stdout.write(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if not debug:
        import warnings

        warnings.simplefilter("ignore")  # library warnings are noise beside our one-line findings
    try:
        parser = build_parser(only=next((a for a in argv if a in COMMANDS), None))
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if extra:  # point at the subcommand's help, not the top level's
            raise PrepError(f"unrecognized arguments: {' '.join(extra)} (see '{PROG} {args.command} --help')")
        from .config import load_config

        config = load_config(args.config)
        return args.func(args, config)
    except PrepError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours; keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # an internal error: one line unless --debug
        if debug:
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 2
