"""The base class every LoadTest API model derives from.

Python attributes are snake_case; the Kubernetes API (and therefore the CRD) uses camelCase. The alias
generator keeps the two in step, so a field is only ever named once.
"""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    # extra="ignore": the API server already prunes unknown fields, and an older operator must keep
    # working when a newer CRD adds one.
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )
