"""Who is calling: a principal and its roles.

The server learns the principal from a bearer token (`synth.store.tokens`);
every service call takes one and checks it against the resource's owner.
Roles follow issue 12: an admin manages tokens, caps and the non-private
allowance; an owner has their sources and everything made from them; a
reviewer approves releases; a reader sees only what was released to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OWNER = "owner"
    REVIEWER = "reviewer"
    READER = "reader"


def parse_roles(text: str | list[str] | tuple[str, ...]) -> frozenset[Role]:
    """Roles from "owner,reviewer" or a list; ValueError naming an unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            out.add(Role(item))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise ValueError(f"unknown role {item!r}; the roles are {known}") from None
    if not out:
        raise ValueError("give at least one role")
    return frozenset(out)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a subject (the name tokens are issued to) and its roles."""

    subject: str
    roles: frozenset[Role]
    #: The token the call was made with ("" for the server's own work).
    token_id: str = ""

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def owns(self, owner: str) -> bool:
        """Whether a resource recorded with `owner` is this principal's (admins see all)."""
        return self.is_admin or (bool(owner) and owner == self.subject)


#: The server itself (recovery at start, schedules): all roles, never a caller.
SYSTEM = Principal("system", frozenset(Role), "")
