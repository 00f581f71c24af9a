"""Config of the model catalogue and of models configured at run time (the admin API)."""

from __future__ import annotations

from pydantic import Field

from .base import _Frozen
from .models import ProviderName


class RuntimeConfigSection(_Frozen):
    """Models and provider credentials added through ``/admin/models`` and ``/admin/providers``.

    They are stored in the request-log database (``database_url``); every replica sharing it
    polls a version row and recompiles its snapshot when the version moves."""

    enabled: bool = Field(True, description="false: the admin API refuses runtime models and providers.")
    poll_interval_s: float = Field(
        1.0, gt=0, le=5, description="How often a replica checks for changes made on another replica (seconds)."
    )


class ProviderCredentials(_Frozen):
    """Named credentials of a provider (``/admin/providers``), referenced by a model's ``credentials``."""

    name: str = Field(min_length=1, description="What model entries name in `credentials:`.")
    provider: ProviderName | None = Field(None, description="Wire format; default: the model's.")
    base_url: str | None = Field(None, description="Endpoint; default: the model's, else the provider's API.")
    api_key: str | None = Field(None, description="Upstream credential (stored encrypted, never returned).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra upstream headers (values secret).")
