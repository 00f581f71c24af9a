"""The ``dashboard:`` section: the web dashboard served at ``/dashboard`` (docs/dashboard.md)."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import _Frozen


class DashboardConfig(_Frozen):
    """Off unless ``enabled``; the master key logs in as admin, a ``viewer_keys`` entry read-only."""

    enabled: bool = Field(False, description="Serve the web dashboard at /dashboard (or `faregate serve --dashboard`).")
    session_ttl_s: float = Field(
        8 * 3600.0, gt=0, le=30 * 86400, description="How long a dashboard login lasts, in seconds."
    )
    viewer_keys: list[str] = Field(
        default_factory=list,
        description=(
            "Passwords that log in read-only (the `viewer` role: numbers, no prompt text, no changes); "
            "at least 16 characters each. The master key logs in as `admin`."
        ),
    )

    @field_validator("viewer_keys")
    @classmethod
    def _long_enough(cls, v: list[str]) -> list[str]:
        for i, k in enumerate(v):
            if len(k) < 16:
                raise ValueError(f"viewer_keys.{i}: a viewer key needs at least 16 characters")
        return v
