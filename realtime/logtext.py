"""Client-supplied text made safe for a log line: short, and on one line.

A hub target, a reason that quotes it, or a request path comes from the
client. Logged raw, a 30 KB target writes a 30 KB line and a newline in it
starts a forged log line. `clip` bounds the length and escapes every control
character (and the Unicode line separators), so one call writes one line of
bounded size whatever the client sent.
"""

import re

#: Characters a log line must not contain raw: C0 and C1 controls, DEL,
#: the Unicode line and paragraph separators, and the backslash (escaped so
#: that an escape in the log is never ambiguous with literal client text).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\\\\]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def clip(text: object, limit: int = 100) -> str:
    """Return `text` truncated to `limit` characters with controls escaped.

    What was cut is counted (``…[+29900 chars]``), so the line still says
    how long the original was.
    """
    text = text if isinstance(text, str) else str(text)
    cut = len(text) - limit
    head = text[:limit] if cut > 0 else text
    safe = _UNSAFE.sub(_escape, head)
    return f"{safe}…[+{cut} chars]" if cut > 0 else safe
