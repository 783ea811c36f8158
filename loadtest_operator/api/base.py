"""The base class every LoadTest API model derives from.

Python attributes are snake_case; the Kubernetes API (and therefore the CRD) uses camelCase. The alias
generator keeps the two in step, so a field is only ever named once.
"""

import re

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def api_name(field: str) -> str:
    """snake_case → the Kubernetes API's camelCase. pydantic's to_camel capitalises a letter after a digit
    (e2e_milliseconds → e2EMilliseconds, per_1k → Per1K); the API spells them e2eMilliseconds, Per1k."""
    return re.sub(r"(?<=\d)([A-Z])", lambda m: m.group(1).lower(), to_camel(field))


class ApiModel(BaseModel):
    # extra="ignore": the API server already prunes unknown fields, and an older operator must keep
    # working when a newer CRD adds one.
    model_config = ConfigDict(
        alias_generator=api_name,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )
