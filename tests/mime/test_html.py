"""HTML to text: layout, hidden text, numbered links, deceptive links, nothing fetched."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sync.mime.html import html_to_text, link_warning


def _text(html: str) -> str:
    return "\n".join(line for _, line in html_to_text(html).lines)


def test_tables_are_laid_out_in_columns() -> None:
    text = _text(
        "<table><tr><td>Item</td><td>Price</td></tr>"
        "<tr><td>Coffee beans</td><td>12.00</td></tr></table>"
    )
    rows = text.split("\n")
    assert rows[0].index("Price") == rows[1].index("12.00")


def test_hidden_text_is_hidden() -> None:
    text = _text(
        "<p>Shown</p><div style='display:none'>H1</div><span hidden>H2</span>"
        "<p style='visibility: hidden'>H3</p><p style='font-size:0px'>H4</p>"
        "<div style='max-height:0;overflow:hidden'>H5</div><p style='opacity:0'>H6</p>"
        "<script>H7</script><style>p{}</style><!-- H8 --><p style='font-size:10px'>Small</p>"
    )
    assert "Shown" in text and "Small" in text
    for hidden in ("H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "p{}"):
        assert hidden not in text


def test_tail_text_of_a_hidden_element_stays() -> None:
    assert "after" in _text("<p><span hidden>gone</span>after</p>")


def test_links_are_numbered_and_listed_by_real_target() -> None:
    result = html_to_text(
        '<p><a href="https://a.example/1">First</a> and <a href="https://b.example/">Second</a>'
        ' and <a href="https://a.example/1">First again</a> <a href="#top">top</a></p>',
        first_link_number=4,
    )
    text = "\n".join(line for _, line in result.lines)
    assert "First[4] and Second[5] and First again[4] top" in text
    assert [(link.number, link.url) for link in result.links] == [
        (4, "https://a.example/1"),
        (5, "https://b.example/"),
    ]


@pytest.mark.parametrize(
    ("text", "url", "suspicious"),
    [
        ("paypal.com", "https://evil.example/login", True),
        ("https://www.paypal.com/signin", "https://paypal.com.evil.example/", True),
        ("www.mybank.com", "https://mybank.com/login", False),
        ("mybank.com", "https://secure.mybank.com/", False),
        ("Click here", "https://anything.example/", False),
        ("Download report.pdf", "https://files.example/report.pdf", False),
        ("alice@example.org", "mailto:alice@example.org", False),
        ("Press", "javascript:alert(1)", True),
        ("x", "data:text/html,<script>", True),
        ("apple.com", "https://xn--pple-43d.com/", True),
        ("Visit", "https://xn--pple-43d.com/", True),
    ],
)
def test_deceptive_links_are_flagged(text: str, url: str, suspicious: bool) -> None:
    assert (link_warning(text, url) is not None) is suspicious


def test_deceptive_link_warning_reaches_the_result() -> None:
    result = html_to_text('<a href="https://evil.example/x">www.paypal.com</a>')
    assert result.links[0].warning is not None
    assert "paypal.com" in result.links[0].warning and "evil.example" in result.links[0].warning
    assert any("evil.example" in warning for warning in result.warnings)


def test_blockquotes_become_quote_levels() -> None:
    result = html_to_text(
        "<p>Reply</p><blockquote>Level one<blockquote>Level two</blockquote>back</blockquote>"
    )
    levels = {line.strip(): level for level, line in result.lines if line.strip()}
    assert levels["Reply"] == 0
    assert levels["Level one"] == 1
    assert levels["Level two"] == 2
    assert levels["back"] == 1


def test_escape_sequences_are_removed_and_markup_kept_literal() -> None:
    text = _text("<p>a\x1b]0;title\x07b \x9b31m [@click=app.quit]x[/] &#27;[2J</p>")
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    assert "[@click=app.quit]x[/]" in text


def test_images_show_alt_text() -> None:
    assert "[Company logo]" in _text('<img src="https://tracker.example/p.gif" alt="Company logo">')


def test_nothing_is_ever_fetched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    html = (
        f'<!DOCTYPE html SYSTEM "http://dtd.example/x.dtd" [<!ENTITY e SYSTEM "file://{secret}">]>'
        '<html><head><link rel="stylesheet" href="http://css.example/a.css">'
        '<base href="http://base.example/"></head>'
        '<body style="background:url(http://bg.example/x.png)"><p>&e; body</p>'
        '<img src="http://img.example/p.gif"><iframe src="http://frame.example/"></iframe>'
        f'<object data="file://{secret}"></object></body></html>'
    )
    text = _text(html)
    assert "body" in text
    assert "TOP-SECRET" not in text


_HOSTILE_HTML = {
    "empty": "",
    "blank": "   ",
    "nul": "\x00",
    "xml-declaration": "<?xml version='1.0' encoding='utf-8'?><p>x</p>",
    "surrogate": "\ud800<p>surrogate</p>",
    "brackets": "<" * 10000,
    "deep": "<div>" * 5000 + "deep" + "</div>" * 5000,
    "long-table": "<table>" + "<tr><td>x</td></tr>" * 2000 + "</table>",
    "bad-ipv6-url": "<a href='http://[::1'>bad url</a>",
    "bad-port": "<a href='http://a.example:99999/'>bad port</a>",
}


@pytest.mark.parametrize("html", _HOSTILE_HTML.values(), ids=_HOSTILE_HTML.keys())
def test_hostile_html_never_raises(html: str) -> None:
    result = html_to_text(html)
    for _, line in result.lines:
        assert "\x00" not in line


def test_very_long_html_is_cut_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.mime.html

    monkeypatch.setattr(sync.mime.html, "MAX_HTML_CHARS", 2000)
    html = "<p>start</p>" + "<p>filler text</p>" * 200 + "<p>END</p>"
    result = html_to_text(html)
    text = "\n".join(line for _, line in result.lines)
    assert "start" in text and "END" not in text
    assert any("very long" in warning for warning in result.warnings)
