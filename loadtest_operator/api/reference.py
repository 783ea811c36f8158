"""Documentation rendered from the one source of each fact, so docs/api.md and `kubectl explain` cannot
drift from the code: a Markdown field reference from the structural schema, and the condition docs (CRD
descriptions and Markdown tables) from the condition vocabulary in `api/conditions.py`.
`python -m loadtest_operator.crdgen` rewrites the parts of docs/api.md between the markers."""

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from loadtest_operator.api.conditions import Meaning
from loadtest_operator.api.enums import ConditionStatus

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
    return replace_section(document, BEGIN_MARKER, END_MARKER, reference)


def replace_section(document: str, begin: str, end: str, section: str) -> str:
    """`document` with the text from `begin` to `end` (markers included) replaced by `section`."""
    start, stop = document.find(begin), document.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"the document has no generated-section markers {begin} ... {end}")
    return document[:start] + section + document[stop + len(end) :]


# --- Conditions ------------------------------------------------------------------------------------

# Keys of the condition tables: a kind's ConditionType or Reason enum (StrEnums), or plain strings.
_Type = TypeVar("_Type", bound=str)
_Reason = TypeVar("_Reason", bound=str)

_REASON_LINE = re.compile(r"(?P<type>[A-Za-z]+)(?:=(?P<status>False|Unknown))?: (?P<meaning>\S.*)", re.DOTALL)


@dataclass(frozen=True)
class ReasonDoc:
    """A documented reason: the condition (type and status) it is set on, and what it means."""

    reason: str
    type: str
    status: ConditionStatus
    meaning: str


def reason_docs(reasons: Mapping[_Reason, str], types: Iterable[_Type]) -> list[ReasonDoc]:
    """Every line of `reasons` (the `Type: ` or `Type=Status: ` convention of api/conditions.py) split
    into its condition and meaning, grouped by condition in the order of `types`, each group in the
    table's order. Raises ValueError for a line that does not name one of `types`."""
    order = {str(t): i for i, t in enumerate(types)}
    docs = []
    for reason, line in reasons.items():
        match = _REASON_LINE.fullmatch(line)
        if match is None or match["type"] not in order:
            raise ValueError(
                f"reason {reason}: {line!r} does not start with one of {sorted(order)} "
                "as 'Type: ' or 'Type=False: ' / 'Type=Unknown: '"
            )
        status = ConditionStatus(match["status"] or ConditionStatus.TRUE)
        docs.append(ReasonDoc(str(reason), match["type"], status, match["meaning"]))
    return sorted(docs, key=lambda doc: order[doc.type])


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


def render_conditions(conditions: Mapping[_Type, Meaning], reasons: Mapping[_Reason, str]) -> str:
    """Two Markdown tables for one kind: its condition types with their meanings, and every reason
    with the condition it is set on."""
    lines = ["| Condition | True | False | Unknown |", "|---|---|---|---|"]
    for type_, meaning in conditions.items():
        cells = [_cell(text) or "—" for text in (meaning.true, meaning.false, meaning.unknown)]
        lines.append(f"| `{type_}` | {' | '.join(cells)} |")
    lines += ["", "| Reason | Set on | Meaning |", "|---|---|---|"]
    for doc in reason_docs(reasons, conditions):
        lines.append(f"| `{doc.reason}` | `{doc.type}={doc.status}` | {_cell(doc.meaning)} |")
    return "\n".join(lines)
