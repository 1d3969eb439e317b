"""Bodies of ``POST /admin/reload``."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from recsys.api.schemas.common import Out

_VERSION = "20261123T121314.123456Z-1a2b3c"
_NEW_VERSION = "20261124T080000.000000Z-4d5e6f"


class ModelReloadOut(Out):
    """What a reload did for one configured model type."""

    status: Literal["loaded", "unchanged", "refused", "failed"] = Field(
        description="`loaded`: a new version serves; `unchanged`: LATEST names the one serving; "
        "`refused`: LATEST names a version that does not load (bad sha256, wrong shapes, another "
        "model type, unreadable) and the old one keeps serving; `failed`: the store could not be "
        "read and nothing changed."
    )
    version: str | None = Field(description="The version serving after the reload (null: none).")
    previous: str | None = Field(description="The version serving before it.")
    latest: str | None = Field(description="The version LATEST named, when it could be read.")
    # A default, so the schema does not require it: FastAPI leaves nulls out of the examples.
    error: str | None = Field(
        default=None, description="Why a version was refused or the store failed."
    )


class ReloadOut(Out):
    """The outcome of a hot reload, per configured model type."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "changed": True,
                    "models": {
                        "als": {
                            "status": "loaded",
                            "version": _NEW_VERSION,
                            "previous": _VERSION,
                            "latest": _NEW_VERSION,
                            "error": None,
                        },
                        "popularity": {
                            "status": "unchanged",
                            "version": _VERSION,
                            "previous": _VERSION,
                            "latest": _VERSION,
                            "error": None,
                        },
                    },
                }
            ]
        }
    )

    ok: bool = Field(description="False when a version was refused or the store failed.")
    changed: bool = Field(description="True when at least one model type serves a new version.")
    models: dict[str, ModelReloadOut]
