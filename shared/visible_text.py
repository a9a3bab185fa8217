"""Text from a board or a file, made safe to print: control characters become visible
escapes, so an error message or a name can never move the cursor, retitle the
window or clear the user's terminal."""

import re

# C0 controls (newline and tab included: a one-line message stays one line), DEL, and
# the C1 controls (0x80-0x9f) that some terminals also obey.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def visible(text, keep_newlines=False):
    """``text`` with every control character written as an escape (``\\x1b``, ``\\n``)."""
    def escape(match):
        char = match.group(0)
        if keep_newlines and char == "\n":
            return char
        return _NAMED.get(char, "\\x%02x" % ord(char))

    return _CONTROL.sub(escape, text)
