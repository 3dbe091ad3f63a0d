"""Preconditions a write names and the stored object must meet (Kubernetes' ``Preconditions``).

A PUT or PATCH whose body carries ``metadata.uid`` means "this object, not a namesake created
since": kube-apiserver turns that uid into a precondition and answers 409 Conflict when the
stored object's uid differs. ``DeleteOptions.preconditions`` names a uid and/or a
resourceVersion the same way. These functions only decide (pure); the write path raises.
The messages are kube-apiserver's (``storage.Preconditions.Check``).
"""

from __future__ import annotations


def uid_failure(wanted: object, stored: str) -> str | None:
    """Why a uid precondition fails, or None when it holds (no uid given holds)."""
    if wanted in (None, "") or str(wanted) == str(stored):
        return None
    return f"Precondition failed: UID in precondition: {wanted}, UID in object meta: {stored}"


def resource_version_failure(wanted: int | None, stored: int) -> str | None:
    """Why a resourceVersion precondition fails, or None when it holds (or none is given)."""
    if wanted is None or wanted == stored:
        return None
    return (
        f"Precondition failed: ResourceVersion in precondition: {wanted}, "
        f"ResourceVersion in object meta: {stored}"
    )
