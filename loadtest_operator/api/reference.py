"""A Markdown field reference rendered from the structural schema, so docs/api.md cannot drift from the
CRD: `python -m loadtest_operator.crdgen` rewrites the part between the markers."""

import json
from collections.abc import Iterator
from typing import Any

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
