"""Command-line parsing only: every command calls the library and turns its outcome into an exit code.

Exit codes (every command): 0 nothing at or above the fail severity; 1 findings at or above it;
2 the tool could not do its job (bad flags, unknown profile or rule, missing path, config error).
"""

from __future__ import annotations

import argparse
import os
import sys

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
        raise PrepError(f"{self.prog}: {message} (see '{self.prog} --help')")


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


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    common = _Parser(add_help=False)
    common.add_argument("--profile", metavar="NAME", help="API profile (default: from config, else inferred from the request)")
    common.add_argument("--config", metavar="FILE", help="config file (default: nearest pyproject.toml [tool.seedance-prep] or seedance-prep.toml)")
    common.add_argument("--rules", metavar="FILE", action="append", default=[], help="extra or overriding rule file (repeatable)")
    common.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    common.add_argument("--no-color", action="store_true", help="no ANSI colours (also: NO_COLOR=1)")
    common.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")

    parser = _Parser(prog=PROG, description="Make every Seedance 2.0 request right before a credit is spent.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("check", parents=[common], help="lint request files (folders recurse over *.json; - is stdin)",
                       description="Lint Seedance 2.0 request files before a credit is spent.")
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    p.add_argument("--format", choices=("text", "json", "github", "sarif"), help="output format (default: text)")
    p.add_argument("--select", action="append", metavar="IDS", help="only these rules (ids or prefixes, comma-separated)")
    p.add_argument("--ignore", action="append", metavar="IDS", help="skip these rules (ids or prefixes, comma-separated)")
    p.add_argument("--fail-on", choices=("error", "warning"), help="lowest severity that makes the exit code 1 (default: error)")
    p.add_argument("--max-tokens", type=_non_negative_int, metavar="N", help="fail when the estimated cost exceeds N tokens")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (atomically) instead of stdout")
    p.add_argument("--jobs", "-j", type=_non_negative_int, metavar="N",
                   help="worker processes for large batches (default: one per CPU; 1: none)")
    p.add_argument("--remote", action="store_true", default=None,
                   help="also inspect http(s) media URLs (bounded: timeouts, byte cap, no private hosts)")
    p.add_argument("--allow-private-hosts", action="store_true", default=None,
                   help="with --remote, allow loopback/private/link-local addresses")
    p.add_argument("--no-media", action="store_true", help="do not inspect any media (request rules only)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("inspect", parents=[common], help="media facts and media findings for each file",
                       description="Show what is inside media files, and what the profile's media rules say about them.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--fail-on", choices=("error", "warning"), help="lowest severity that makes the exit code 1")
    p.add_argument("--model", metavar="ID", help="judge by this model's family (default: the profile's own family)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("rules", parents=[common], help="list the rules, or print one rule's documentation")
    p.add_argument("rule_id", nargs="?", metavar="ID")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser("schema", parents=[common], help="print the JSON Schema (draft 2020-12) of a profile's request")
    p.set_defaults(func=cmd_schema)
    return parser


# ---------------------------------------------------------------------------------------------------


def _color(args) -> bool:
    return not args.no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _book(args, config):
    from .ruleset import RuleBook

    return RuleBook([*config.rules, *args.rules], aliases=config.aliases or None)


def _emit(text: str, output: str | None) -> None:
    if output:
        from .paths import write_atomic

        try:
            write_atomic(output, text.encode("utf-8"))
        except OSError as exc:
            raise PrepError(f"{output}: cannot write report: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def cmd_check(args, config) -> int:
    from .lint import Checker, ReadError, exit_code, iter_sources, run_batch
    from .report import render

    fmt = args.format or config.format or "text"
    checker = Checker(
        _book(args, config),
        profile=args.profile or config.profile,
        select_ids=_ids(args.select) or config.select,
        ignore_ids=_ids(args.ignore) or config.ignore,
        severity=config.severity,
        max_tokens=args.max_tokens if args.max_tokens is not None else config.max_tokens,
        locate_findings=True,
        inspect_media=not args.no_media,
        estimate=fmt == "json",
        remote=bool(args.remote if args.remote is not None else config.remote),
        allow_private_hosts=bool(args.allow_private_hosts if args.allow_private_hosts is not None
                                 else config.allow_private_hosts),
    )
    sources = list(iter_sources(args.paths))
    pretty = len(sources) <= 100 or (sys.stdout.isatty() and not args.output)
    encode = None
    if fmt == "json" and not pretty:
        from .report.json import encode_results as encode  # serialised by the workers, in parallel
    batch = run_batch(checker, sources, args.jobs, encode)
    results, errors = [], []
    for outcome in batch.outcomes:
        if isinstance(outcome, ReadError):
            errors.append(outcome)
            if fmt not in ("json", "sarif", "github"):
                print(f"{PROG}: error: {outcome.path}: {outcome.message}", file=sys.stderr)
        else:
            results.append(outcome)
    rules = []
    if fmt == "sarif":
        used = dict.fromkeys((r.profile, r.family) for r in results) or [(checker.fixed_profile or "ark", None)]
        for name, family in used:
            rules.extend(checker.profile_for(name, family).rules)
    _emit(render(fmt, results, errors, color=_color(args) and not args.output, quiet=args.quiet, rules=rules,
                 pretty=pretty, encoded=batch.encoded), args.output)
    return exit_code([*results, *errors], args.fail_on or config.fail_on or "error")


def cmd_inspect(args, config) -> int:
    from .lint import Checker, ReadError, exit_code
    from .report import media as media_report

    book = _book(args, config)
    checker = Checker(book, profile=args.profile or config.profile, severity=config.severity)
    family = None
    if args.model:  # whose media limits apply: the family of this model (2.5 takes longer clips...)
        name = args.profile or config.profile or "ark"
        if args.model not in book.profile_data(name).get("models", {}):
            raise PrepError(f"unknown model '{args.model}' for profile {name}; "
                            f"known: {', '.join(book.profile_data(name).get('models', {}))}")
        family = book.family_for(name, args.model)
    reports, errors = [], []
    for path in args.files:
        outcome = checker.inspect_file(path, family)
        if isinstance(outcome, ReadError):
            errors.append(outcome)
            if args.format == "text":
                print(f"{PROG}: error: {outcome.path}: {outcome.message}", file=sys.stderr)
        else:
            reports.append(outcome)
    sys.stdout.write(media_report.render(reports, errors, fmt=args.format, color=_color(args), quiet=args.quiet))
    return exit_code([*reports, *errors], args.fail_on or config.fail_on or "error")


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

    book = _book(args, config)
    schema = request_schema(book, args.profile or config.profile or "ark")
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
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
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
