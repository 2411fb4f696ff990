"""Staff identities: whose a bearer token is (`IFUNO_API_TOKENS`), and what role it has.

A token stands for one person (or one system), named in the setting, so that what they
do (a file review, an eligibility override) is recorded under that name and never under
a name the request itself claims.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

ROLES = frozenset({"reviewer", "committee", "admin", "viewer"})
NAME_MAX_LENGTH = 200
"""As long as the names the services record (a review's `reviewer`, an override's author)."""


@dataclass(frozen=True)
class Staff:
    """Who called: the token's name and its role."""

    name: str
    role: str


def parse_entry(entry: str) -> tuple[str, Staff]:
    """`token:name:role`, or the older `token:role` (the name is then the role's)."""
    parts = entry.split(":")
    if len(parts) == 2:
        token, role = parts
        name = role
    elif len(parts) == 3:
        token, name, role = parts
    else:
        raise ValueError("expected token:name:role (or token:role); no ':' inside a token or name")
    token, name, role = token.strip(), name.strip(), role.strip()
    if not token:
        raise ValueError("a token is empty")
    if not name or len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"a name must have 1 to {NAME_MAX_LENGTH} characters")
    if role not in ROLES:
        raise ValueError(f"unknown role; roles are {', '.join(sorted(ROLES))}")
    return token, Staff(name, role)


def parse_tokens(value: str) -> dict[str, Staff]:
    """Comma-separated entries; a token given twice is refused (which entry would count?)."""
    tokens: dict[str, Staff] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        token, staff = parse_entry(entry)
        if token in tokens:
            raise ValueError("a token appears twice")
        tokens[token] = staff
    return tokens


def _bytes(text: str) -> bytes:
    """Any text as bytes, whatever its characters (a lone surrogate included)."""
    return text.encode("utf-8", "surrogatepass")


def staff_for(tokens: Mapping[str, Staff], presented: str) -> Staff | None:
    """The presented token's owner, or None. Every token is compared, each in constant
    time, so the answer's timing tells nothing of which token nearly matched."""
    given = _bytes(presented)
    found = None
    for token, staff in tokens.items():
        if hmac.compare_digest(_bytes(token), given):
            found = staff
    return found
