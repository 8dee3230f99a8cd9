"""Who may do what: roles and ownership turned into yes or no, in one place.

Reads never say no: what a caller may not see is filtered out of the store
query (`owner_filter`), so it is answered exactly like an absent id (the
same NotFound, the same empty page). Writes first check the role the call
needs (`require`), which depends on nothing stored, and then look the
resource up through the same filter.

An admin sees and may do everything, except read evaluations: an
evaluation and its report hold statistics of the real rows, so they are the
source owner's alone (`evaluation_filter`).
"""

from __future__ import annotations

from synth.base.errors import PermissionDenied
from synth.base.principal import Principal, Role

#: An owner no row has ("" marks sources from before owners): a principal without
#: the owner role sees nothing of anyone's.
NOBODY = "\x00"


def owner_filter(who: Principal) -> str | None:
    """The owner a store read is limited to: None for an admin (everything)."""
    if who.is_admin:
        return None
    if who.has(Role.OWNER):
        return who.subject
    return NOBODY


def evaluation_filter(who: Principal) -> str | tuple[str, ...]:
    """Evaluations: the source owner's alone; an admin also sees those of sources from
    before owners (nobody else can)."""
    if who.is_admin:
        return (who.subject, "")
    return who.subject if who.has(Role.OWNER) else NOBODY


def sees_evaluations_of(who: Principal, owner: str) -> bool:
    """Whether `who` may evaluate, and read the evaluations of, a source of `owner`."""
    allowed = evaluation_filter(who)
    return owner in allowed if isinstance(allowed, tuple) else owner == allowed


def roles_of(who: Principal) -> str:
    return ", ".join(sorted(r.value for r in who.roles)) or "none"


def require(who: Principal, role: Role, action: str) -> None:
    """Refuse (PermissionDenied, naming the role) unless `who` is an admin or has `role`."""
    if who.is_admin or who.has(role):
        return
    raise PermissionDenied(
        f"{action} needs the {role.value} role (or admin); your token has: {roles_of(who)}. "
        "Ask an admin for a token with that role",
        metadata={"needed_role": role.value},
    )


def require_admin(who: Principal, what: str) -> None:
    """Refuse (PermissionDenied) unless `who` is an admin."""
    if not who.is_admin:
        raise PermissionDenied(
            f"{what} is set only by an admin; your token has: {roles_of(who)}",
            metadata={"needed_role": Role.ADMIN.value},
        )
