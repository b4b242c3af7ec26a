"""The password rule for POSTGRES_PASSWORD (the plan's section 4.4).

At least 16 characters mixing upper case, lower case, digits and symbols; not the example
value; no obvious pattern (a common word, a run of one character, a keyboard or alphabet
sequence). Messages say what is wrong, never the password.
"""

from __future__ import annotations

import re
import string

# The value shipped in .env.example; running with it would mean running with a public password.
EXAMPLE_PASSWORD = "change-me-to-a-long-random-secret"
MIN_PASSWORD_LENGTH = 16
# Fragments that make a password guessable whatever surrounds them.
COMMON_WORDS = ("password", "passwort", "qwerty", "azerty", "letmein", "welcome", "admin",
                "secret", "changeme", "change-me", "default", "postgres", "mimir", "example",
                "iloveyou", "monkey", "dragon", "master", "login", "abc123")
_SEQUENCES = (string.ascii_lowercase, string.digits, "qwertyuiop", "asdfghjkl", "zxcvbnm")
_RUN = 4  # this many repeated or consecutive characters is a pattern
HOW_TO_GENERATE = "generate one with `openssl rand -base64 32`"


def _has_sequence(lowered: str) -> bool:
    for sequence in _SEQUENCES:
        for start in range(len(sequence) - _RUN + 1):
            piece = sequence[start:start + _RUN]
            if piece in lowered or piece[::-1] in lowered:
                return True
    return False


def password_weakness(password: str) -> str | None:
    """Why `password` is too weak, or None when it passes the rule."""
    if not password:
        return "is required"
    if password == EXAMPLE_PASSWORD:
        return "is the example value from .env.example; choose your own"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters long; {HOW_TO_GENERATE}"
    classes = {
        "an upper-case letter": any(c.isupper() for c in password),
        "a lower-case letter": any(c.islower() for c in password),
        "a digit": any(c.isdigit() for c in password),
        "a symbol": any(not c.isalnum() and not c.isspace() for c in password),
    }
    missing = [name for name, present in classes.items() if not present]
    if missing:
        return f"must contain {', '.join(missing)}; {HOW_TO_GENERATE}"
    lowered = password.lower()
    if any(word in lowered for word in COMMON_WORDS):
        return f"contains a common word; {HOW_TO_GENERATE}"
    if re.search(rf"(.)\1{{{_RUN - 1},}}", password):
        return f"repeats one character {_RUN} or more times in a row; {HOW_TO_GENERATE}"
    if _has_sequence(lowered):
        return f"contains a sequence such as 1234 or abcd; {HOW_TO_GENERATE}"
    return None
