"""Keeping a client's API key out of everything the SDK shows: messages, exception
attributes and chains, snippets of bodies and normalized statuses.

The key reaches text only through what a server sends back (an echo in an error message, a
field, a header); the key is removed from the decoded JSON before anything is read from it,
and from raw text in every escaped form JSON allows for it.
"""

import contextlib
import json
from typing import Any, List

REDACTED = "[redacted]"
SNIPPET_CHARS = 300


class Redactor:
    """Removes one key from text, decoded JSON and exceptions."""

    __slots__ = ("_key", "_forms", "_raw")

    def __init__(self, key: str) -> None:
        self._key = key
        escaped = json.dumps(key)[1:-1]
        forms = {key, escaped, escaped.replace("/", "\\/"),
                 "".join(f"\\u{ord(c):04x}" for c in key)}
        self._forms = sorted(forms, key=len, reverse=True)
        self._raw = key.encode("ascii")

    def text(self, text: str) -> str:
        """``text`` with the key (raw or JSON-escaped) replaced by ``[redacted]``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        if "\\" in text and self._key not in text:
            # any mix of escaped and plain characters: compare the JSON-decoded text
            try:
                decoded = json.loads(f'"{text}"')
            except ValueError:
                return text
            if isinstance(decoded, str) and self._key in decoded:
                return decoded.replace(self._key, REDACTED)
        return text

    def data(self, value: Any) -> Any:
        """Decoded JSON with the key replaced in every string, object keys included. Lists
        and objects are changed in place (a reply's fresh decoding), without recursion."""
        key = self._key
        if isinstance(value, str):
            return value.replace(key, REDACTED) if key in value else value
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if any(key in name for name in node if isinstance(name, str)):
                    items = list(node.items())
                    node.clear()
                    node.update((name.replace(key, REDACTED), item) for name, item in items)
                pairs: Any = node.items()
            elif isinstance(node, list):
                pairs = enumerate(node)
            else:
                continue
            for where, item in list(pairs):
                if isinstance(item, str):
                    if key in item:
                        node[where] = item.replace(key, REDACTED)
                elif isinstance(item, (dict, list)):
                    stack.append(item)
        return value

    def may_hold_key(self, body: bytes) -> bool:
        """Whether raw bytes could carry the key: it appears, or JSON escapes do."""
        return self._raw in body or b"\\" in body

    def snippet(self, body: bytes) -> str:
        """At most SNIPPET_CHARS of a reply body for messages, without the key (in any JSON
        escaping) or a prefix of it cut at the end."""
        text = body[: 4 * (SNIPPET_CHARS + 6 * len(self._key))].decode("utf-8", "replace")
        text = self.text(text)[:SNIPPET_CHARS]
        # the cut may have split the key: drop a tail that starts it
        for size in range(min(len(self._key), len(text)), 2, -1):
            if text.endswith(self._key[:size]):
                return text[:-size]
        return text

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
        if any(self._key in t for e in chained for t in _texts(e)):
            exc.__cause__ = None
            exc.__context__ = None
            exc.__suppress_context__ = True
        return exc


def _texts(exc: BaseException) -> List[str]:
    texts = [repr(exc.args)]
    with contextlib.suppress(Exception):  # a foreign __str__ that fails shows nothing
        texts.append(str(exc))
    return texts
