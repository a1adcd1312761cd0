"""Keeping a client's API key out of everything the SDK shows: messages, exception
attributes and chains, snippets of bodies and normalized statuses.

The key reaches text only through what a server sends back (an echo in an error message, a
field, a header); the key is removed from the decoded JSON before anything is read from it,
and from raw text written with any mix of the escapes JSON and URLs allow (``\\/``,
``\\u0073`` in either case, doubled backslashes, ``%2F``), matched in one pass by a pattern
built from the key.
"""

import contextlib
import json
import re
from typing import Any, List, Optional, Pattern

REDACTED = "[redacted]"
SNIPPET_CHARS = 300
MIN_PREFIX = 3  # a snippet that ends in this many characters of the key loses them
# A key shorter than this (a test key, "k") is removed only where it stands alone, not inside
# a longer run of key characters: else every "k" of "bucket" or "handshake" would go.
SHORT_KEY = 8
# (after a JSON or percent escape the key stands alone too: "\nk3y", "%3Dk3y")
_LONE_BEFORE = (r"(?:(?<![A-Za-z0-9_\-])|(?<=\\[nrtbf/])|(?<=\\u[0-9A-Fa-f]{4})"
                r"|(?<=%[0-9A-Fa-f]{2}))")
_LONE_AFTER = r"(?![A-Za-z0-9_\-])"


def _forms(c: str, first: bool = False) -> List[str]:
    """Patterns for one character of the key as a server may write it: itself, a \\uXXXX
    escape (hex in either case, the backslash possibly doubled, as in JSON inside JSON), a
    backslash escape (``\\/``) or a percent escape. The ``first`` character's backslashes
    start a run of them: a search that began inside a run would scan the rest of it from
    every backslash (a body of 64,000 took 5 s; the leftmost match starts at the run's start
    anyway)."""
    code = ord(c)
    run = r"(?<!\\)\\+" if first else r"\\+"
    forms = [re.escape(c)]
    forms.append(run + "u" + "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d
                                     for d in f"{code:04x}"))
    forms.append(run + re.escape(c))
    if code < 0x80:
        forms.append("%" + "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d
                                   for d in f"{code:02x}"))
    return forms


def _character(c: str, first: bool = False) -> str:
    """One pattern for one character of the key in any of its forms (``_forms``)."""
    return "(?:" + "|".join(_forms(c, first)) + ")"


_CUT_ESCAPE = re.compile(r"(?:\\+(?:u[0-9a-fA-F]{0,3})?|%[0-9a-fA-F]?)?\Z")


class Redactor:
    """Removes one key from text, decoded JSON and exceptions."""

    __slots__ = ("_key", "_pattern", "_lead", "_rest", "_raw", "_short")

    def __init__(self, key: str) -> None:
        self._key = key
        self._short = len(key) < SHORT_KEY
        before, after = (_LONE_BEFORE, _LONE_AFTER) if self._short else ("", "")
        chars = [_character(c, i == 0) for i, c in enumerate(key)]
        # the key written with any mix of escapes, in one pass
        self._pattern: Pattern[str] = re.compile(before + "".join(chars) + after)
        # a prefix of it at the end of a text: its first MIN_PREFIX characters, then the rest
        # matched one character at a time (one nested pattern would recurse once per
        # character: a key of 500 overflowed the stack)
        self._lead: Pattern[str] = re.compile(before + "".join(chars[:MIN_PREFIX]))
        self._rest = [[re.compile(form) for form in _forms(c)] for c in key[MIN_PREFIX:]]
        self._raw = key.encode("ascii")

    def text(self, text: str) -> str:
        """``text`` with the key, plain or written with any mix of JSON or percent escapes,
        replaced by ``[redacted]``."""
        if self._key in text or "\\" in text or "%" in text:
            return self._pattern.sub(REDACTED, text)
        return text

    def holds_key(self, text: str) -> bool:
        """Whether ``text`` shows the key, plain or escaped."""
        if self._short:
            return self._pattern.search(text) is not None
        return self._key in text or (("\\" in text or "%" in text)
                                     and self._pattern.search(text) is not None)

    def data(self, value: Any) -> Any:
        """Decoded JSON with the key replaced in every string, object keys included. Lists
        and objects are changed in place (a reply's fresh decoding), without recursion."""
        if isinstance(value, str):
            return self.text(value)
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if any(self.holds_key(name) for name in node if isinstance(name, str)):
                    items = list(node.items())
                    node.clear()
                    node.update((self.text(name) if isinstance(name, str) else name, item)
                                for name, item in items)
                pairs: Any = node.items()
            elif isinstance(node, list):
                pairs = enumerate(node)
            else:
                continue
            for where, item in list(pairs):
                if isinstance(item, str):
                    if self.holds_key(item):
                        node[where] = self.text(item)
                elif isinstance(item, (dict, list)):
                    stack.append(item)
        return value

    def may_hold_key(self, body: bytes) -> bool:
        """Whether raw bytes could carry the key: it appears, or JSON or percent escapes do,
        or they are UTF-16 or UTF-32 (which JSON's decoding reads too, and where the key's
        bytes are not the ASCII ones looked for)."""
        return (self._raw in body or b"\\" in body or b"%" in body
                or _encoding(body) not in _UTF8)

    def snippet(self, body: bytes) -> str:
        """At most SNIPPET_CHARS of a reply body for messages, without the key (in any JSON
        escaping) or a prefix of it cut at the end."""
        text = body[: 4 * (SNIPPET_CHARS + 6 * len(self._key))].decode(_encoding(body),
                                                                        "replace")
        text = self.text(text)[:SNIPPET_CHARS]
        # the cut may have split the key (or the body ended inside it): drop a tail that
        # starts it, in any escaping
        found = self._tail(text, max(0, len(text) - 7 * len(self._key) - 8))
        return text if found is None else text[:found]

    def _tail(self, text: str, start: int) -> Optional[int]:
        """Where a prefix of the key (at least MIN_PREFIX characters, in any escaping, the
        last maybe a cut escape) starts that runs to the end of ``text``, the first such
        place from ``start``; None if there is none."""
        while True:
            lead = self._lead.search(text, start)
            if lead is None:
                return None
            # the rest of the key, character by character, every form tried (a depth-first
            # walk over (characters matched, position), each pair visited once)
            stack, seen = [(0, lead.end())], set()
            while stack:
                i, at = stack.pop()
                if _CUT_ESCAPE.match(text, at):
                    return lead.start()
                if i < len(self._rest) and (i, at) not in seen:
                    seen.add((i, at))
                    stack.extend((i + 1, m.end()) for form in self._rest[i]
                                 if (m := form.match(text, at)) is not None)
            start = lead.start() + 1

    def exception(self, exc: BaseException) -> BaseException:
        """``exc`` with the key removed from its arguments and string attributes, and with a
        cause or context dropped whose text carries the key. Returns ``exc``."""
        exc.args = tuple(self.text(a) if isinstance(a, str) else a for a in exc.args)
        for name, value in list(vars(exc).items()):
            if isinstance(value, str):
                setattr(exc, name, self.text(value))
        chained: List[BaseException] = []
        link = exc.__cause__ or exc.__context__
        while link is not None and len(chained) < 20:
            chained.append(link)
            link = link.__cause__ or link.__context__
        if any(self.holds_key(t) for e in chained for t in _texts(e)):
            exc.__cause__ = None
            exc.__context__ = None
            exc.__suppress_context__ = True
        return exc


_UTF8 = frozenset({"utf-8", "utf-8-sig"})


def _encoding(body: bytes) -> str:
    """The encoding JSON's decoding reads ``body`` in: UTF-8, or UTF-16/32 by its first
    bytes (a BOM, or the zero bytes around an ASCII first character)."""
    return json.detect_encoding(body[:4])


def _texts(exc: BaseException) -> List[str]:
    texts = [repr(exc.args)]
    with contextlib.suppress(Exception):  # a foreign __str__ that fails shows nothing
        texts.append(str(exc))
    return texts
