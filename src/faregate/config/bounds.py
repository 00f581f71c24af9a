"""``BoundsConfig``: caps on the structure one request may carry (see docs/security.md)."""

from __future__ import annotations

from pydantic import Field

from ..core.bounds import DEFAULT_BOUNDS, InputBounds
from .base import _Frozen


class BoundsConfig(_Frozen):
    """Caps on what one request may ask the gateway to work through; over a cap: a 400 naming it."""

    max_json_depth: int = Field(
        DEFAULT_BOUNDS.max_json_depth, ge=2, le=200, description="Deepest nesting of the request's JSON."
    )
    max_json_nodes: int = Field(
        DEFAULT_BOUNDS.max_json_nodes, ge=100, description="Most JSON values (objects, arrays, scalars) in a request."
    )
    max_schema_nodes: int = Field(
        DEFAULT_BOUNDS.max_schema_nodes,
        ge=100,
        description="Largest tool or response JSON Schema once its `$ref`s are inlined, in schema nodes.",
    )
    max_image_parts: int = Field(
        DEFAULT_BOUNDS.max_image_parts, ge=0, description="Most image parts in one request's messages."
    )

    def input_bounds(self) -> InputBounds:
        return InputBounds(
            max_json_depth=self.max_json_depth,
            max_json_nodes=self.max_json_nodes,
            max_schema_nodes=self.max_schema_nodes,
            max_image_parts=self.max_image_parts,
        )
