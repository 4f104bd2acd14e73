"""The base of every Plugin CRD model: camelCase on the wire (Kubernetes convention), snake_case in
Python, unknown fields rejected, values frozen; and the patterns several models share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


class Model(BaseModel):
    """camelCase on the wire (Kubernetes convention), snake_case in Python; unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )
