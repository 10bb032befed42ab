"""The one sanitiser for text that reaches people: control, bidi and zero-width characters written out visibly."""
from __future__ import annotations

import re

# Characters a reader cannot see or that change how what follows is shown: C0/C1 controls (ESC starts terminal
# sequences, OSC sets titles and hyperlinks), bidi embeddings/overrides/isolates (U+202A-U+202E, U+2066-U+2069)
# and marks, zero-width characters (U+200B-U+200D, U+2060, U+FEFF), line/paragraph separators, lone surrogates
# (which no file can encode), every other format character (Unicode category Cf, up to Unicode 15) and the two
# noncharacters XML refuses. tests/reports/test_text.py checks the class against unicodedata.
_REST = ("\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
         "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\ufffe-\uffff"
         "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
         "\U000e0001\U000e0020-\U000e007f")
_ANY = re.compile(f"[\x00-\x1f{_REST}]")
_BUT_LAYOUT = re.compile(f"[\x00-\x08\x0b-\x1f{_REST}]")  # tab and newline kept
_WHITESPACE = re.compile(r"[\t\n\r\x0b\x0c]+")


class Clean(str):
    """Text already made clean for its format (by a renderer's filter): the template's last pass leaves it be, so
    what the filter added on purpose (a word joiner that stops a GitHub mention) stays."""

    __slots__ = ()


def _shown(m: re.Match[str]) -> str:
    return f"\\u{{{ord(m.group()):04X}}}"


def visible(value: object, *, layout: bool = False) -> str:
    """`value` as text with every unseen character written out as `\\u{XXXX}` (U+202E -> `\\u{202E}`).
    layout: keep tabs and newlines as they are (multi-line bodies: JUnit failure text, an HTML <pre>)."""
    text = str(value)
    # Every character of the class is one str.isprintable() refuses (a control, format character, surrogate,
    # separator or noncharacter: tests/reports/test_text.py checks it), so printable text has none of them. That
    # check runs in C at memory speed; searching for the class took ~20 us per finding's JUnit body.
    if text.isprintable():
        return text
    if layout:
        if text.replace("\n", "").replace("\t", "").isprintable():
            return text
        return _BUT_LAYOUT.sub(_shown, text) if _BUT_LAYOUT.search(text) else text
    return _ANY.sub(_shown, text) if _ANY.search(text) else text


def one_line(value: object) -> str:
    """`value` on one line: each run of tabs and line breaks becomes one space, every other unseen character is
    shown."""
    return visible(_WHITESPACE.sub(" ", str(value)))
