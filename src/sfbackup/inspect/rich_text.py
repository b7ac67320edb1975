"""A rich text area value (Salesforce's HTML) made safe to show: an allow-list of plain formatting
tags without attributes, the text escaped, script and style dropped with their content, and each
`<img src=".../servlet/rtaImage?...refid=0EM...">` pointed at the image's body in the snapshot
(the binaries index: record, field, refid -> blob) or replaced by a note when it is not there."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

_ALLOWED = {"p", "br", "b", "i", "u", "s", "strong", "em", "ul", "ol", "li", "blockquote", "div", "span",
            "h1", "h2", "h3", "h4", "h5", "h6", "pre", "code", "sub", "sup", "hr"}  # fmt: skip
_VOID = {"br", "hr", "img"}
_DROPPED = {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math"}


def image_refid(src: str | None) -> str | None:
    """The refid of an rtaImage URL, or None."""
    if not src:
        return None
    url = urlsplit(src)
    if not url.path.endswith("/servlet/rtaImage"):
        return None
    refid = next(iter(parse_qs(url.query).get("refid") or []), None)
    return refid if refid and refid.isalnum() and len(refid) in (15, 18) else None


class _Sanitiser(HTMLParser):
    def __init__(self, image_url: Callable[[str], str | None], *, text_only: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.image_url = image_url
        self.text_only = text_only
        self.out: list[str] = []
        self.dropping = 0
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self.dropping += 1
            return
        if self.dropping:
            return
        if self.text_only:
            self.out.append(" ")  # words of two paragraphs stay two words
            return
        if tag == "img":
            values = dict(attrs)
            refid = image_refid(values.get("src"))
            url = self.image_url(refid) if refid else None
            alt = escape(values.get("alt") or "", quote=True)
            if url:
                self.out.append(f"<img class=rich alt='{alt}' src='{escape(url, quote=True)}'>")
            else:
                self.out.append(f"<span class=muted>[image {alt or refid or ''} not in the backup]</span>")
        elif tag in _ALLOWED:
            self.out.append(f"<{tag}>")
            if tag not in _VOID:
                self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _ALLOWED and tag not in _VOID and self.open and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or self.text_only or tag not in self.open:
            return
        while self.open:  # close what was left open inside it too
            last = self.open.pop()
            self.out.append(f"</{last}>")
            if last == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(data if self.text_only else escape(data))


def sanitise(html: str, image_url: Callable[[str], str | None]) -> str:
    """`html` with only allow-listed tags (no attributes), escaped text, and images served by
    `image_url(refid)` (None: a note instead of the image)."""
    parser = _Sanitiser(image_url)
    parser.feed(html)
    parser.close()
    parser.out += [f"</{tag}>" for tag in reversed(parser.open)]
    return "".join(parser.out)


def plain_text(html: str) -> str:
    """The text of `html` (not escaped), without tags, scripts or styles: for a one-line preview."""
    parser = _Sanitiser(lambda _: None, text_only=True)
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.out).split())
