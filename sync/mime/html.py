"""HTML bodies as readable text: inscriptis layout, numbered links, hidden text dropped.

Nothing is fetched, ever: lxml parses with the network off and no entity or DTD loading,
images become their alt text, and nothing here has a URL opener. Links become ``text[n]``
in the text and are listed by their real target; a link whose text names another host than
its target (a classic phishing shape) gets a warning.
"""

from __future__ import annotations

import html as html_module
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sync.clean import clean_text

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["MAX_HTML_CHARS", "HtmlText", "Link", "html_to_text", "link_warning"]

# HTML longer than this is cut before layout (inscriptis takes ~0.6 s per MB).
MAX_HTML_CHARS = 1_500_000


@dataclass(frozen=True, slots=True)
class Link:
    """A link of the body: ``number`` as shown in the text, its real ``url`` and shown ``text``.

    ``warning`` says why the link is suspicious (its text names another host, it runs code),
    or is None. Every field is cleaned for display.
    """

    number: int
    url: str
    text: str
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class HtmlText:
    """An HTML body rendered as text: ``lines`` as ``(quote_level, text)``, links and warnings."""

    lines: tuple[tuple[int, str], ...]
    links: tuple[Link, ...]
    warnings: tuple[str, ...]


# Elements whose content is never shown by a mail reader.
_DROPPED_TAGS = frozenset(
    {"script", "style", "head", "title", "template", "object", "embed", "iframe", "frame",
     "frameset", "applet", "audio", "video", "noembed", "select", "option", "datalist",
     "meta", "link", "base"}
)  # fmt: skip
# Inline styles that hide an element (newsletters hide "preheader" text; spammers hide
# decoy text): display/visibility, zero size fonts, zero opacity, Outlook's mso-hide.
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|mso-hide\s*:\s*all"
    r"|(?<![\w-])(?:font-size|opacity|line-height)\s*:\s*0*(?:\.0*)?(?:px|pt|em|rem|%)?\s*(?:;|!|$)",
    re.IGNORECASE,
)
_ZERO_HEIGHT = re.compile(r"(?<![\w-])max-height\s*:\s*0*(?:px)?\s*(?:;|!|$)", re.IGNORECASE)
_OVERFLOW_HIDDEN = re.compile(r"overflow\s*:\s*hidden", re.IGNORECASE)

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
# Characters libxml2 refuses or mangles in a str: NUL, lone surrogates.
_UNPARSABLE = re.compile("[\x00\ud800-\udfff]")
# WHATWG URL parsing drops tabs and newlines inside a URL and trims C0 and space.
_URL_WHITESPACE = re.compile(r"[\t\n\r]")

_UNSAFE_SCHEMES = frozenset({"javascript", "vbscript", "data", "file"})

# A host named in link text: with a scheme, after "www.", or ending in a known TLD.
_HOST_IN_TEXT = re.compile(
    r"(?:(?:https?|ftp)://)?((?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+([^\W\d_][\w-]{1,62}))(?![\w-])",
    re.IGNORECASE,
)
_COMMON_TLDS = frozenset(
    {"com", "net", "org", "info", "biz", "gov", "edu", "mil", "int", "io", "co", "app", "dev",
     "me", "us", "uk", "de", "fr", "it", "es", "nl", "be", "ch", "at", "se", "no", "dk", "fi",
     "pl", "cz", "ru", "ua", "cn", "jp", "kr", "in", "au", "nz", "ca", "br", "mx", "ar", "eu",
     "xyz", "online", "site", "shop", "store", "top", "tv", "ly", "gl", "ai", "cloud", "bank",
     "link", "click", "email", "support", "security", "account", "login", "help"}
)  # fmt: skip


def html_to_text(html: str, *, first_link_number: int = 1) -> HtmlText:
    """Render ``html`` as text for the reader; never raises, never fetches anything.

    Tables are laid out (inscriptis), hidden elements dropped, images shown by their alt
    text, ``<blockquote>`` depth becomes the line's quote level, and each distinct link
    target gets a number (from ``first_link_number``) written after its text as ``[n]``.
    The lines are cleaned with :func:`sync.clean.clean_text`; the link list is not appended.
    """
    warnings: tuple[str, ...] = ()
    if len(html) > MAX_HTML_CHARS:
        # Layout costs about a second per megabyte: show the beginning quickly.
        html = html[:MAX_HTML_CHARS]
        warnings = ("The HTML is very long; only its beginning is shown.",)
    try:
        result = _render(html, first_link_number)
        return HtmlText(result.lines, result.links, warnings + result.warnings)
    except Exception:  # lxml/inscriptis on hostile input: fall back to stripped tags
        # "[^<>]" keeps the scan linear on a flood of unclosed "<".
        text = html_module.unescape(re.sub(r"<[^<>]*>", " ", html))
        cleaned = clean_text(text, single_line=False)
        return HtmlText(
            lines=tuple((0, line) for line in cleaned.split("\n")),
            links=(),
            warnings=(
                *warnings,
                "The HTML could not be laid out; it is shown with its tags removed.",
            ),
        )


def _render(html: str, first_link_number: int) -> HtmlText:
    # Imported here: lxml and inscriptis cost ~20 ms to import and most opens are plain text.
    # lxml ships no type stubs; it is typed here through Any.
    import lxml.etree
    import lxml.html
    from inscriptis import Inscriptis
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    html = _UNPARSABLE.sub("", _XML_DECLARATION.sub("", html, count=1))
    if not html.strip():
        return HtmlText(lines=(), links=(), warnings=())
    parser = lxml.html.HTMLParser(
        no_network=True, remove_comments=True, remove_pis=True, remove_blank_text=False
    )
    try:
        tree = lxml.html.document_fromstring(html, parser=parser)
    except lxml.etree.ParserError:
        return HtmlText(lines=(), links=(), warnings=())

    links = _prepare(tree, first_link_number)
    has_quotes = next(tree.iter("blockquote"), None) is not None
    config = ParserConfig(
        css=CSS_PROFILES["relaxed"],
        display_images=True,
        deduplicate_captions=True,
        annotation_rules={"blockquote": ["quote"]} if has_quotes else None,
    )
    engine = Inscriptis(tree, config)
    text: str = engine.get_text()
    quote_spans: list[tuple[int, int]] = (
        [(a.start, a.end) for a in engine.get_annotations()] if has_quotes else []
    )
    lines = _lines_with_levels(text, quote_spans)
    warnings = tuple(
        clean_text(f"Link [{link.number}]: {link.warning}") for link in links if link.warning
    )
    return HtmlText(lines=lines, links=tuple(links), warnings=warnings)


def _prepare(tree: Any, first_number: int) -> list[Link]:
    """Drop what is never shown, and number the links (one number per distinct target)."""
    doomed = []
    for element in tree.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue  # comments and entities
        if tag.lower() in _DROPPED_TAGS or _is_hidden(element):
            doomed.append(element)
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()  # keeps the tail text, which belongs to the parent

    numbers: dict[str, int] = {}
    links: list[Link] = []
    for anchor in tree.iter("a", "A"):
        url = _URL_WHITESPACE.sub("", anchor.get("href") or "").strip(" \x00")
        if not url or url.startswith("#"):
            continue  # no target, or an in-page anchor: goes nowhere
        shown = clean_text(anchor.text_content(), max_length=200)
        number = numbers.get(url)
        if number is None:
            number = first_number + len(links)
            numbers[url] = number
            links.append(Link(number, clean_text(url), shown, link_warning(shown, url)))
        else:
            # The same target may be named honestly once and deceptively later.
            old = links[number - first_number]
            if old.warning is None and shown != old.text:
                warning = link_warning(shown, url)
                if warning is not None:
                    links[number - first_number] = Link(old.number, old.url, old.text, warning)
        anchor.tail = f"[{number}]" + (anchor.tail or "")
    return links


def _is_hidden(element: Any) -> bool:
    if element.get("hidden") is not None:
        return True
    style = element.get("style")
    if not style:
        return False
    if _HIDDEN_STYLE.search(style):
        return True
    return bool(_ZERO_HEIGHT.search(style) and _OVERFLOW_HIDDEN.search(style))


def _lines_with_levels(text: str, spans: list[tuple[int, int]]) -> tuple[tuple[int, str], ...]:
    from sync.mime.flowed import quote_level

    if not spans:
        cleaned = clean_text(text, single_line=False)
        lines = [(quote_level(line), line.rstrip()) for line in cleaned.split("\n")]
        return tuple(_squeeze_blank_runs(lines))
    levelled: list[tuple[int, str]] = []
    offset = 0
    for line in text.split("\n"):
        depth = sum(1 for start, end in spans if start <= offset < end)
        cleaned_line = clean_text(line, single_line=False).rstrip()
        levelled.append((depth + quote_level(cleaned_line), cleaned_line))
        offset += len(line) + 1
    return tuple(_squeeze_blank_runs(levelled))


def _squeeze_blank_runs(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Newsletters stack empty table cells: keep at most two blank lines in a row."""
    blank = 0
    started = False
    for level, line in lines:
        if not line.strip():
            blank += 1
            if blank > 2 or not started:
                continue
            yield level, ""
        else:
            blank = 0
            started = True
            yield level, line


def _target_host(url: str) -> tuple[str, str]:
    """Return (scheme, host) of a link target; for mailto: the host of the address."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", ""
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        address = parts.path.split("?", 1)[0].split(",", 1)[0]
        return scheme, address.rpartition("@")[2].lower().strip("> ")
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    return scheme, host.rstrip(".")


def _ascii_host(host: str) -> str:
    host = host.lower().rstrip(".")
    try:
        return host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return host


def _hosts_named(text: str) -> list[str]:
    hosts = []
    for match in _HOST_IN_TEXT.finditer(text):
        host, tld = match.group(1), match.group(2).lower()
        explicit = match.group().lower().startswith(("http", "ftp", "www."))
        if explicit or tld in _COMMON_TLDS or not tld.isascii():
            hosts.append(_ascii_host(host))
    return hosts


def _same_site(shown: str, target: str) -> bool:
    shown = shown.removeprefix("www.")
    target = target.removeprefix("www.")
    return shown == target or target.endswith("." + shown) or shown.endswith("." + target)


def link_warning(text: str, url: str) -> str | None:
    """Say why a link is suspicious, or return None.

    Suspicious: a target that runs code or opens a local file (javascript:, data:, file:),
    link text naming a host that is not the target's host (or a parent/child of it), and
    an internationalized target host (a homograph may imitate a known name).
    """
    scheme, host = _target_host(url)
    if scheme in _UNSAFE_SCHEMES:
        return f"the target is a {scheme}: link, which mailtui never opens"
    ascii_target = _ascii_host(host) if host else ""
    named = _hosts_named(text)
    if named and not any(_same_site(name, ascii_target) for name in named):
        shown = named[0]
        return f"the text names {shown} but the link goes to {ascii_target or url[:80]}"
    if any(label.startswith("xn--") for label in ascii_target.split(".")):
        # An internationalized name may imitate a known one with look-alike letters.
        return f"the target host is internationalized ({ascii_target}); check it"
    return None
