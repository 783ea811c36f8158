"""Documentation rendered from the one source of each fact, so docs/api.md and `kubectl explain` cannot
drift from the code: a Markdown field reference from the structural schema, and the condition
descriptions of the CRDs from the condition vocabulary in `api/conditions.py`.
`python -m loadtest_operator.crdgen` rewrites the parts of docs/api.md between the markers."""

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from loadtest_operator.api.conditions import Meaning

BEGIN_MARKER = "<!-- BEGIN GENERATED FIELD REFERENCE (python -m loadtest_operator.crdgen) -->"
END_MARKER = "<!-- END GENERATED FIELD REFERENCE -->"

_CONSTRAINTS = (
    ("minimum", "≥ {}"),
    ("maximum", "≤ {}"),
    ("minLength", "length ≥ {}"),
    ("maxLength", "length ≤ {}"),
    ("minItems", "items ≥ {}"),
    ("maxItems", "items ≤ {}"),
)


def field_rows(schema: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(path, node, required) for every field under `schema`, depth first, in declaration order."""
    required = set(schema.get("required") or [])
    for name, node in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}"
        yield path, node, name in required
        if node.get("type") == "object":
            yield from field_rows(node, path)
        elif node.get("type") == "array" and isinstance(node.get("items"), dict):
            yield from field_rows(node["items"], f"{path}[]")


def _type_of(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int or string"
    if node.get("type") == "array":
        return f"[]{_type_of(node.get('items') or {})}"
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[string]{_type_of(node['additionalProperties'])}"
    return str(node.get("type", "object"))


def _notes(node: dict[str, Any], required: bool) -> str:
    notes = ["**required**"] if required else []
    if "enum" in node:
        notes.append(" \\| ".join(f"`{v}`" for v in node["enum"]))
    if "default" in node:
        notes.append(f"default `{json.dumps(node['default'])}`")
    items = node.get("items") if node.get("type") == "array" else None
    for source in (node, items or {}):
        notes += [template.format(source[key]) for key, template in _CONSTRAINTS if key in source]
    return ", ".join(notes)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_field_table(schema: dict[str, Any], prefix: str) -> str:
    lines = ["| Field | Type | Constraints | Description |", "|---|---|---|---|"]
    for path, node, required in field_rows(schema, prefix):
        lines.append(
            f"| `{path}` | {_type_of(node)} | {_notes(node, required)} | {_cell(node.get('description', ''))} |"
        )
    return "\n".join(lines)


def render_reference(spec_schema: dict[str, Any], status_schema: dict[str, Any]) -> str:
    """The generated section, markers included."""
    return "\n".join(
        [
            BEGIN_MARKER,
            "",
            "### spec",
            "",
            render_field_table(spec_schema, "spec"),
            "",
            "### status",
            "",
            render_field_table(status_schema, "status"),
            "",
            END_MARKER,
        ]
    )


def replace_reference(document: str, reference: str) -> str:
    """`document` with the text between the markers replaced by `reference`."""
    start, end = document.find(BEGIN_MARKER), document.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError("the document has no generated-reference markers")
    return document[:start] + reference + document[end + len(END_MARKER) :]


# --- Conditions ------------------------------------------------------------------------------------

# Keys of the condition tables: a kind's ConditionType enum (a StrEnum), or plain strings.
_Type = TypeVar("_Type", bound=str)


def _one_of(words: Iterable[str]) -> str:
    *head, last = [str(w) for w in words]
    return f"{', '.join(head)} or {last}" if head else last


def describe_condition_types(kinds: Mapping[str, Iterable[str]]) -> str:
    """The `type` description of the Condition shared by several kinds: each kind's types."""
    listed = "; ".join(f"{_one_of(types)} on a {kind}" for kind, types in kinds.items())
    return f"Condition type: {listed} (meanings under the kind's status.conditions)."


def describe_conditions(conditions: Mapping[_Type, Meaning]) -> str:
    """The `conditions` description of one kind's status: every type with what True, False and
    Unknown (where used) mean, compact enough for the CRD."""
    parts = ["One per type."]
    for type_, meaning in conditions.items():
        statuses = [f"True when {meaning.true}", f"False when {meaning.false}"]
        if meaning.unknown:
            statuses.append(f"Unknown when {meaning.unknown}")
        parts.append(f"{type_}: {'; '.join(statuses)}.")
    return " ".join(parts)
