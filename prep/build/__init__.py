"""``build``: a request file → the exact body to send to a profile's API, in that profile's dialect.

Local images and audio become ``data:`` URLs (media type from the file's content, never its name),
streamed: the body is never held in memory, only its JSON text and the list of files to encode
(:mod:`.stream`). Remote http(s) URLs and ``asset://`` ids pass through; a local video cannot be
inlined and is refused. The request is carried into the target profile's dialect and model ids
(:mod:`.translate`), parsed back and compared with what was meant: a translation that would lose an
item, a role or a parameter is refused naming it. The result is checked under the target profile
(:mod:`.verify`) and refused when it has errors or would exceed the body-size limit.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from collections.abc import Iterator

from ..dialects import infer_profile, parse, render
from ..document import parse_json
from ..model import Finding, Item, MediaFacts, MediaMissing, PrepError, Request
from ..paths import describe_os_error
from ..ruleset import RuleBook
from .stream import CHUNK, Hasher, Inlined, body_length, iter_parts, write_stream
from .translate import convert_types, differences, label, map_model, order_items, place

__all__ = ["Built", "Inlined", "build"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_INLINE_KINDS = {"image_url": "image", "audio_url": "audio"}


class Built:
    """A submit-ready request: its target profile, document shape and exact body, streamed on demand.

    ``document`` is the rendered target document with each inlined file as a tiny placeholder data:
    URL (``inlined`` says which file each stands for; :meth:`preview` shows it readably); the body
    (:meth:`iter_bytes`, :meth:`write`) carries the real base64. ``length`` is the body's exact size in
    bytes. ``findings`` are the warnings of the check under the target profile (errors refuse the build).
    """

    content_type = "application/json"

    def __init__(self, *, profile: str, source_profile: str, dialect: str, document: dict, request: Request,
                 parts: list, inlined: tuple[Inlined, ...], findings: tuple[Finding, ...], mode: str | None,
                 estimate: dict | None, placeholders: dict[str, Inlined]) -> None:
        self.profile, self.source_profile, self.dialect = profile, source_profile, dialect
        self.document, self.request, self.inlined = document, request, inlined
        self.findings, self.mode, self.estimate = findings, mode, estimate
        self._parts = parts
        self._placeholders = placeholders
        self.length = body_length(parts)
        self._sha256: str | None = None

    @property
    def model(self) -> str | None:
        value = self.request.value("model")
        return value if isinstance(value, str) else None

    def iter_bytes(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The body, chunk by chunk (files encoded as they are read; ``chunk_size`` bytes of input per
        chunk, a multiple of 3). A complete pass records :attr:`sha256` on the way."""
        hasher = Hasher()
        yield from hasher.wrap(iter_parts(self._parts, chunk_size))
        self._sha256 = hasher.digest

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the exact body bytes, computed while streaming: the first complete
        :meth:`iter_bytes` or :meth:`write` records it; asking before that streams the body once (the
        media files are read and encoded again, nothing is kept)."""
        if self._sha256 is None:
            for _ in self.iter_bytes():
                pass
        assert self._sha256 is not None
        return self._sha256

    def write(self, path: str | os.PathLike) -> str:
        """Write the body to ``path`` atomically (temp file + rename; nothing is left behind on error)
        and return its path. Refuses to overwrite one of the files it inlines."""
        target = os.path.realpath(path)
        for item in self.inlined:
            if os.path.realpath(item.path) == target:
                raise PrepError(f"--out {os.fspath(path)} is {item.label}, which the request inlines; "
                                "write the built request elsewhere")
        write_stream(path, self.iter_bytes())
        return os.fspath(path)

    def preview(self) -> str:
        """The body as indented JSON with each inlined data: URL shortened to what it carries (for
        display: ``--dry-run``; not the body)."""
        text = json.dumps(self.document, ensure_ascii=False, indent=2)
        for url, item in self._placeholders.items():
            text = text.replace(url, f"data:{item.media_type};base64,…<{item.url_length - len(item.prefix):,} "
                                     f"base64 characters of {item.path}>")
        return text

    def __repr__(self) -> str:
        return f"<Built {self.profile} {self.length:,} bytes, {len(self.inlined)} inlined>"


def build(request_path: str | os.PathLike, *, profile: str | None = None, to: str | None = None,
          book: RuleBook | None = None, base_dir: str | os.PathLike | None = None, check: bool = True) -> Built:
    """Build the request file at ``request_path`` for profile ``to`` (default: its own profile).

    ``profile`` is the profile the file is written for (default: inferred from its shape, as ``check``
    does); media paths are read relative to ``base_dir`` (default: the request file's folder). With
    ``check=False`` the built request is neither checked nor held to the body-size limit (benchmarks,
    callers that check themselves); translation losses and local videos are still refused.
    Raises PrepError (one line, naming the items or parameters) when the request cannot be built.
    """
    book = book or RuleBook()
    path = os.fspath(request_path)
    document = _read(path)
    source = profile or infer_profile(document, {n: book.profile_data(n).get("models", {}) for n in book.names})
    target = to or source
    source_request = parse(document, book.profile_data(source).get("dialect", "content"))
    target_dialect = book.profile_data(target).get("dialect", "content")
    broken = [f"{label(i)}: {i.problem}" for i in source_request.items if i.problem is not None]
    if broken:
        raise PrepError(f"{path}: cannot build a request with broken items: {'; '.join(broken)}")
    folder = os.fspath(base_dir) if base_dir is not None else (os.path.dirname(os.path.abspath(path)))

    request = map_model(book, source, target, source_request)
    model = request.value("model")
    family = book.family_for(target, model, request.value)
    target_profile = book.get(target, family)
    local = _inspect_local(request, folder)
    nonce = secrets.token_hex(8)
    placeholders: dict[str, Inlined] = {}
    known: dict[str, MediaFacts] = {}
    items = list(request.items)
    names: dict[str, str] = {}
    for n, (index, item, file_path, facts) in enumerate(local):
        media_type = _media_type(target_profile, item, facts, target)
        url = f"data:{media_type};base64," + base64.b64encode(f"seedance-prep:{nonce}:{n}".encode()).decode()
        shown = label(item, item.url)
        placeholders[url] = Inlined(shown, "", file_path, media_type, facts.bytes)
        known[url] = facts
        names[item.pointer] = item.url or ""
        items[index] = item._replace(url=url)
    meant = request._replace(items=tuple(items))
    if target != source:
        meant = order_items(meant, target_profile)

    out = render(meant, target_dialect)
    if target != source:
        out = convert_types(place(out, target_profile, meant), target_profile)
    sent = parse(out, target_dialect)
    lost = differences(meant, sent, target, names)
    if lost:
        raise PrepError(f"cannot build {path} for profile {target} without losing meaning: {'; '.join(lost)}")

    pointers = {i.url: i.value_pointer or i.pointer for i in sent.items if i.url in placeholders}
    placeholders = {url: item.__class__(item.label, pointers.get(url, ""), item.path, item.media_type, item.size)
                    for url, item in placeholders.items()}
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    parts = _split(text, placeholders)
    inlined = tuple(p for p in parts if isinstance(p, Inlined))
    findings: tuple[Finding, ...] = ()
    mode = estimate = None
    if check:
        _enforce_body_limit(target_profile, target, body_length(parts), inlined)
        from .verify import check_built

        result = check_built(book, target, text.encode("utf-8"), path, folder, known)
        errors = [f for f in result.findings if f.severity == "error"]
        if errors:
            listed = "; ".join(f"{f.pointer or '/'} {f.rule}: {f.message}" for f in errors[:8])
            more = f" (and {len(errors) - 8} more)" if len(errors) > 8 else ""
            raise PrepError(f"the request built for profile {target} fails check: {listed}{more}")
        findings, mode, estimate = result.findings, result.mode, result.estimate
    return Built(profile=target, source_profile=source, dialect=target_dialect, document=out, request=sent,
                 parts=parts, inlined=inlined, findings=findings, mode=mode, estimate=estimate,
                 placeholders=placeholders)


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise PrepError(f"cannot read {path}: {describe_os_error(exc)}") from None
    document, diagnostics, _ = parse_json(data)
    if document is None:
        detail = next((d[2] for d in diagnostics if d[0] == "syntax"), "not a JSON object")
        raise PrepError(f"{path}: {detail}")
    return document


def _is_local(url: object) -> bool:
    return isinstance(url, str) and bool(url.strip()) and _SCHEME.match(url) is None


def _inspect_local(request: Request, folder: str) -> list[tuple[int, Item, str, MediaFacts]]:
    """``(index, item, absolute path, facts)`` of each local file the request points at; PrepError
    naming every local video (never inlined) and every file that cannot be read or recognised."""
    from pathlib import Path

    from ..resolve import MediaResolver

    resolver = MediaResolver()
    found, videos, problems = [], [], []
    try:
        for index, item in enumerate(request.items):
            if item.type is None or not item.type.endswith("_url") or not _is_local(item.url):
                continue
            url = str(item.url)
            full = url if os.path.isabs(url) else os.path.join(folder, url)
            if item.type == "video_url":
                videos.append(label(item, url))
                continue
            facts = resolver.local(Path(full), url)
            if isinstance(facts, MediaMissing):
                problems.append(f"{label(item, url)}: {facts.reason}")
            elif facts.kind == "video":
                videos.append(label(item, url))
            elif facts.kind is None or facts.problem:
                problems.append(f"{label(item, url)}: {facts.problem or 'not a recognised media file'}")
            elif item.type not in _INLINE_KINDS:
                problems.append(f"{label(item, url)}: a local file cannot be sent as a {item.type} item")
            else:
                found.append((index, item, os.path.abspath(full), facts))
    finally:
        resolver.close()
    if videos:
        what = "a local video cannot be inlined" if len(videos) == 1 else "local videos cannot be inlined"
        raise PrepError(f"{', '.join(videos)}: {what} (video is URL or asset:// only); host it and use its URL")
    if problems:
        raise PrepError("; ".join(problems))
    return found


def _media_type(profile, item, facts: MediaFacts, target: str) -> str:
    """The data: URL media type for a file of ``facts.format``, from the target's ``url.data-uri`` table."""
    rule = profile.rule("url.data-uri")
    table = ((rule.options or {}).get("media_types") or {}).get(facts.kind, {}) if rule is not None else {}
    for media_type, fmt in table.items():
        if fmt == facts.format:
            return media_type
    takes = ", ".join(dict.fromkeys(table.values())) or "none"
    raise PrepError(f"{label(item, item.url)}: a {facts.format} {facts.kind} cannot be inlined for profile {target} "
                    f"(it takes {takes}); convert it with `seedance-prep fix` or host it and use its URL")


def _split(text: str, placeholders: dict[str, Inlined]) -> list[bytes | Inlined]:
    """The JSON text cut at each placeholder URL: text parts as UTF-8 bytes, files as Inlined."""
    found = sorted((text.index(url), url) for url in placeholders)
    parts: list[bytes | Inlined] = []
    at = 0
    for start, url in found:
        parts.append(text[at:start].encode("utf-8"))
        parts.append(placeholders[url])
        at = start + len(url)
    parts.append(text[at:].encode("utf-8"))
    return [p for p in parts if not isinstance(p, bytes) or p]


def _enforce_body_limit(profile, target: str, length: int, inlined: tuple[Inlined, ...]) -> None:
    """PrepError when the body exceeds the target's ``request.body-size`` limit, naming the biggest
    inlined files whose hosting would bring it under."""
    rule = profile.rule("request.body-size")
    limit = (rule.options or {}).get("max_bytes") if rule is not None and rule.severity != "off" else None
    if limit is None or length <= limit:
        return
    from ..checks import MB

    host, left = [], length
    for item in sorted(inlined, key=lambda i: -i.url_length):
        if left <= limit:
            break
        host.append(item)
        left -= item.url_length
    listed = ", ".join(f"{i.label} ({i.url_length / MB:.1f} MB inline)" for i in host)
    raise PrepError(f"the built body would be {length / MB:.1f} MB; profile {target} accepts at most {limit / MB:g} MB "
                    f"(request.body-size): host {listed or 'some media'} and use URLs or asset:// ids instead")


from .._callable import make_callable  # after build(): prep.build(...) calls it

make_callable(__name__, "build")
