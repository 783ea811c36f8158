"""The generated CRD: in sync with the models, structural, documented, and usable on Kubernetes 1.20."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from loadtest_operator import crdgen
from loadtest_operator.api import CAPACITY_KIND, CapacityRecommendationStatus, Condition, LoadTestStatus
from loadtest_operator.api.conditions import (
    CAPACITY_CONDITIONS,
    CAPACITY_REASONS,
    GPU_METRICS_REASONS,
    LOADTEST_CONDITIONS,
    LOADTEST_REASONS,
    LoadTestConditionType,
    LoadTestReason,
)
from loadtest_operator.api.enums import ConditionStatus
from loadtest_operator.api.reference import (
    BEGIN_MARKER,
    END_MARKER,
    describe_conditions,
    reason_docs,
    replace_reference,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_PATH = REPO_ROOT / "crds" / crdgen.CRD_FILE_NAME
DOCS_PATH = REPO_ROOT / "docs" / "api.md"
# The condition sections render_api_doc requires, empty (it fills them in).
CONDITION_MARKERS = (
    f"{crdgen.CONDITIONS_BEGIN_MARKER}\n{crdgen.CONDITIONS_END_MARKER}\n"
    f"{crdgen.CAPACITY_CONDITIONS_BEGIN_MARKER}\n{crdgen.CAPACITY_CONDITIONS_END_MARKER}\n"
)

# JSONSchemaProps fields a v1 structural schema may use (apiextensions.k8s.io/v1 as of 1.20).
ALLOWED_KEYS = {
    "description",
    "type",
    "format",
    "default",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "required",
    "items",
    "properties",
    "additionalProperties",
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-embedded-resource",
}
TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def structural_violations(schema: dict[str, Any]) -> list[str]:
    """The structural-schema rules that can be checked without an API server."""
    problems = []
    for path, node in _nodes(schema):
        if extra := set(node) - ALLOWED_KEYS:
            problems.append(f"{path}: keys not allowed in a structural schema: {sorted(extra)}")
        untyped = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        if node.get("type") not in TYPES and not untyped:
            problems.append(f"{path}: needs a type")
        if node.get("type") == "array" and "items" not in node:
            problems.append(f"{path}: array without items")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties together")
        if node.get("type") == "object" and not (
            "properties" in node or "additionalProperties" in node or untyped or path == ".metadata"
        ):
            problems.append(f"{path}: object with neither properties nor additionalProperties")
        for required in node.get("required") or []:
            if required not in (node.get("properties") or {}):
                problems.append(f"{path}: required {required!r} is not a property")
        if path == ".metadata" and node != {"type": "object"}:
            problems.append(".metadata: only type: object is allowed (the API server owns its schema)")
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node.get("x-kubernetes-list-map-keys") or []:
                if key not in item.get("required", []):
                    problems.append(f"{path}: list-map key {key!r} must be required")
        if node.get("default") == "":
            problems.append(f"{path}: empty-string default (the 1.20 API server reads it as null)")
        if "default" in node and "enum" in node and node["default"] not in node["enum"]:
            problems.append(f"{path}: default {node['default']!r} not in enum")
    return problems


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return crdgen.loadtest_crd()


@pytest.fixture(scope="module")
def schema(crd: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return result


def test_committed_crd_matches_the_models() -> None:
    committed = CRD_PATH.read_text(encoding="utf-8") if CRD_PATH.exists() else ""
    assert committed == crdgen.render_crd_yaml(), (
        f"{CRD_PATH.relative_to(REPO_ROOT)} is out of date; run: {crdgen.REGENERATE_COMMAND}"
    )


def test_schema_is_structural(schema: dict[str, Any]) -> None:
    assert structural_violations(schema) == []


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"type": "object", "properties": {"a": {"description": "x"}}}, ".a: needs a type"),
        ({"type": "array"}, ": array without items"),
        ({"type": "object", "properties": {"a": {"type": "string", "$ref": "#/x"}}}, "not allowed"),
        ({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}}, "not allowed"),
        ({"type": "object", "required": ["b"], "properties": {"a": {"type": "string"}}}, "required 'b'"),
        ({"type": "object", "properties": {"metadata": {"type": "object", "description": "x"}}}, ".metadata"),
        ({"type": "string", "default": ""}, "empty-string default"),
    ],
)
def test_structural_checker_catches(bad: dict[str, Any], expected: str) -> None:
    # The checker above guards the CRD; make sure it can actually fail.
    assert any(expected in problem for problem in structural_violations(bad))


def test_every_field_has_a_description(schema: dict[str, Any]) -> None:
    # kubectl explain prints these; an undocumented field is a question in the issue tracker.
    # Scalar list items and map values are described by their field; objects anywhere need their own.
    undocumented = [
        path
        for path, node in _nodes(schema)
        if not node.get("description")
        and (path[-1:] not in ("]", "}") or node.get("type") == "object")
        and path != ".metadata"  # described by the API server itself
    ]
    assert undocumented == []


def test_no_cel_and_no_preserve_unknown_fields(crd: dict[str, Any]) -> None:
    text = yaml.safe_dump(crd)
    assert "x-kubernetes-validations" not in text  # CEL needs Kubernetes >= 1.25
    assert "x-kubernetes-preserve-unknown-fields" not in text  # every field is typed, resources too


def test_crd_identity_and_subresources(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "loadtests.llmload.io"
    assert spec["names"]["shortNames"] == ["lt"]
    assert spec["names"]["categories"] == ["llmload"]
    assert spec["scope"] == "Namespaced"
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}


def test_validation_rules_reach_the_schema(schema: dict[str, Any]) -> None:
    spec = schema["properties"]["spec"]
    load = spec["properties"]["load"]
    assert spec["required"] == ["target", "workload", "load"]
    assert load["properties"]["levels"]["items"]["minimum"] == 1
    assert load["properties"]["mode"]["enum"] == ["Concurrency", "Rate"]
    assert spec["properties"]["loadGenerator"]["properties"]["placement"]["enum"] == [
        "SameNode",
        "SameZone",
        "Anywhere",
    ]
    requests = spec["properties"]["loadGenerator"]["properties"]["resources"]["properties"]["requests"]
    assert requests["additionalProperties"] == {"x-kubernetes-int-or-string": True}


def test_conditions_are_a_list_map_keyed_by_type(schema: dict[str, Any]) -> None:
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_printer_columns_answer_is_it_done(crd: dict[str, Any]) -> None:
    columns = {c["name"]: c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert list(columns)[:8] == [
        "Target",
        "Model",
        "Level",
        "Done%",
        "Succeeded",
        "Reason",
        "BestLevel",
        "Age",
    ]
    assert columns["Succeeded"]["jsonPath"] == '.status.conditions[?(@.type=="Succeeded")].status'
    assert columns["Age"]["type"] == "date"


def test_printer_columns_point_at_status_fields(schema: dict[str, Any], crd: dict[str, Any]) -> None:
    for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
        path = column["jsonPath"]
        if not path.startswith(".status.") or "[" in path:
            continue
        node = schema
        for part in path.lstrip(".").split("."):
            assert part in node.get("properties", {}), f"{column['name']}: {path} is not in the schema"
            node = node["properties"][part]


def test_crd_is_lean() -> None:
    # Client-side apply keeps the whole object in an annotation limited to 256 KiB.
    assert len(crdgen.render_crd_yaml().encode()) < 128 * 1024


def test_committed_api_doc_reference_matches_the_models() -> None:
    committed = DOCS_PATH.read_text(encoding="utf-8")
    assert committed == crdgen.render_api_doc(committed), (
        f"the field reference in {DOCS_PATH.relative_to(REPO_ROOT)} is out of date; run: {crdgen.REGENERATE_COMMAND}"
    )


def test_check_mode_reports_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "api.md"
    docs.write_text(f"# API\n\n{BEGIN_MARKER}\nold\n{END_MARKER}\n\n{CONDITION_MARKERS}\nmore prose\n")
    args = ["--output-dir", str(tmp_path / "crds"), "--docs", str(docs)]
    assert crdgen.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert crdgen.REGENERATE_COMMAND in err
    assert "api.md" in err
    assert crdgen.main(args) == 0
    assert crdgen.main([*args, "--check"]) == 0
    text = docs.read_text()
    assert "| `spec.load.levels` | []integer |" in text
    assert "| `ShardFailed` | `Succeeded=False` |" in text
    assert text.startswith("# API\n\n")
    assert text.endswith("more prose\n")


def test_generated_reference_needs_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        replace_reference("no markers here", "x")


# --- Conditions: CRD descriptions and docs/api.md from api/conditions.py ---------------------------


def _section(document: str, begin: str, end: str) -> str:
    start, stop = document.index(begin), document.index(end)
    return document[start:stop]


@pytest.mark.parametrize(
    ("conditions", "reasons"),
    [
        (LOADTEST_CONDITIONS, LOADTEST_REASONS),
        (LOADTEST_CONDITIONS, GPU_METRICS_REASONS),
        (CAPACITY_CONDITIONS, CAPACITY_REASONS),
    ],
)
def test_every_reason_line_names_the_condition_it_is_set_on(
    conditions: dict[Any, Any], reasons: dict[Any, str]
) -> None:
    docs = reason_docs(reasons, conditions)  # raises for a line without a known `Type[=Status]: `
    assert sorted(d.reason for d in docs) == sorted(reasons)
    assert all(d.meaning and not d.meaning.startswith(" ") for d in docs)


def test_gpu_reasons_are_set_on_gpu_metrics_available_and_true_only_when_collected() -> None:
    docs = reason_docs(GPU_METRICS_REASONS, LOADTEST_CONDITIONS)
    assert {d.type for d in docs} == {LoadTestConditionType.GPU_METRICS_AVAILABLE}
    assert [d.reason for d in docs if d.status is ConditionStatus.TRUE] == ["MetricsCollected"]


def test_refusals_are_accepted_false() -> None:
    docs = {d.reason: d for d in reason_docs(LOADTEST_REASONS, LOADTEST_CONDITIONS)}
    assert (docs["TargetNotSet"].type, docs["TargetNotSet"].status) == ("Accepted", ConditionStatus.FALSE)
    assert (docs[LoadTestReason.VALID].type, docs[LoadTestReason.VALID].status) == (
        "Accepted",
        ConditionStatus.TRUE,
    )
    assert docs["RunInProgress"].status is ConditionStatus.UNKNOWN


def test_a_kind_documents_each_reason_once() -> None:
    # The LoadTest's reason table merges two vocabularies; a reason in both would be two rows.
    assert not {str(r) for r in LOADTEST_REASONS} & {str(r) for r in GPU_METRICS_REASONS}


@pytest.mark.parametrize(
    "line",
    [
        "no prefix at all",
        "Acepted=False: a typo in the type",
        "Ready=False: a type of the other kind",
        "Accepted=True: True is written without =True",
        "Accepted=false: statuses are capitalised",
        "Accepted:missing space",
    ],
)
def test_a_reason_line_without_its_condition_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="does not start with"):
        reason_docs({"SomeReason": line}, LOADTEST_CONDITIONS)


@pytest.mark.parametrize("table", [LOADTEST_CONDITIONS, CAPACITY_CONDITIONS])
def test_meanings_can_be_strung_together(table: dict[Any, Any]) -> None:
    # describe_conditions separates statuses with "; " and types with ". ": a meaning may use neither.
    for meaning in table.values():
        for text in (meaning.true, meaning.false, meaning.unknown):
            assert ";" not in text, text
            assert ". " not in text, text
            assert not text.endswith("."), text


@pytest.mark.parametrize(
    ("status", "conditions"),
    [(LoadTestStatus, LOADTEST_CONDITIONS), (CapacityRecommendationStatus, CAPACITY_CONDITIONS)],
)
def test_kubectl_explain_conditions_tells_what_each_status_means(
    status: type[Any], conditions: dict[Any, Any]
) -> None:
    description = status.model_fields["conditions"].description
    assert description == describe_conditions(conditions)
    for type_, meaning in conditions.items():
        assert f"{type_}: True when {meaning.true}; False when {meaning.false}" in description
        assert (f"; Unknown when {meaning.unknown}." in description) is bool(meaning.unknown)


def test_the_shared_condition_type_names_both_kinds_types() -> None:
    description = Condition.model_fields["type"].description or ""
    loadtest, capacity = description.split("; ")
    assert all(str(t) in loadtest for t in LOADTEST_CONDITIONS)
    assert loadtest.endswith("on a LoadTest")
    assert all(str(t) in capacity for t in CAPACITY_CONDITIONS)
    assert f"on a {CAPACITY_KIND}" in capacity


def test_condition_descriptions_reach_the_crd(schema: dict[str, Any]) -> None:
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["description"] == describe_conditions(LOADTEST_CONDITIONS)
    assert conditions["items"]["properties"]["type"]["description"].startswith("Condition type: Accepted,")


def test_condition_descriptions_stay_small() -> None:
    # Per-kind meanings on status.conditions, not every reason: the CRD grows by about two kilobytes.
    assert len(describe_conditions(LOADTEST_CONDITIONS)) < 2048
    assert not any(
        str(r) in describe_conditions(LOADTEST_CONDITIONS) for r in ("TargetNotSet", "ShardFailed")
    )


def _assert_documents(section: str, conditions: Mapping[Any, Any], reasons: Mapping[Any, str]) -> None:
    for type_ in conditions:
        assert f"| `{type_}` |" in section
    for doc in reason_docs(reasons, conditions):
        assert f"| `{doc.reason}` | `{doc.type}={doc.status}` | {doc.meaning} |" in section


def test_api_doc_has_every_condition_and_reason_of_each_kind() -> None:
    committed = DOCS_PATH.read_text(encoding="utf-8")
    loadtest = _section(committed, crdgen.CONDITIONS_BEGIN_MARKER, crdgen.CONDITIONS_END_MARKER)
    capacity = _section(
        committed, crdgen.CAPACITY_CONDITIONS_BEGIN_MARKER, crdgen.CAPACITY_CONDITIONS_END_MARKER
    )
    _assert_documents(loadtest, LOADTEST_CONDITIONS, LOADTEST_REASONS)
    _assert_documents(loadtest, LOADTEST_CONDITIONS, GPU_METRICS_REASONS)
    _assert_documents(capacity, CAPACITY_CONDITIONS, CAPACITY_REASONS)
    assert "| `MetricsCollected` | `GpuMetricsAvailable=True` |" in loadtest
    assert "| `Completed` | `Succeeded=True` |" in loadtest
    assert "`Completed`" not in capacity


def test_check_fails_when_the_condition_docs_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / crdgen.CRD_FILE_NAME).write_text(crdgen.render_crd_yaml())
    (crds / crdgen.CAPACITY_CRD_FILE_NAME).write_text(crdgen.render_capacity_crd_yaml())
    docs = tmp_path / "api.md"
    committed = DOCS_PATH.read_text(encoding="utf-8")
    args = ["--output-dir", str(crds), "--docs", str(docs)]

    # A hand edit of a generated row.
    docs.write_text(
        committed.replace("| `ShardFailed` | `Succeeded=False` |", "| `ShardFailed` | `Running=False` |")
    )
    assert crdgen.main([*args, "--check"]) == 1
    assert "api.md is stale" in capsys.readouterr().err
    assert crdgen.main(args) == 0
    assert docs.read_text() == committed

    # A reason added to the vocabulary but not to the docs (the CRDs do not list reasons).
    reasons = cast(dict[str, str], GPU_METRICS_REASONS)
    monkeypatch.setitem(reasons, "NewReason", "GpuMetricsAvailable=False: something new")
    assert crdgen.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "api.md is stale" in err
    assert crdgen.CRD_FILE_NAME not in err
    assert crdgen.main(args) == 0
    assert "| `NewReason` | `GpuMetricsAvailable=False` | something new |" in docs.read_text()


def test_check_fails_when_a_meaning_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    args = ["--output-dir", str(crds), "--docs", str(tmp_path / "api.md")]
    (tmp_path / "api.md").write_text(DOCS_PATH.read_text(encoding="utf-8"))
    assert crdgen.main(args) == 0
    capsys.readouterr()
    stored = LOADTEST_CONDITIONS[LoadTestConditionType.STORED]
    monkeypatch.setitem(
        LOADTEST_CONDITIONS, LoadTestConditionType.STORED, type(stored)(true="changed", false=stored.false)
    )
    # The CRD description is built when the models are imported; the docs' tables at render time.
    assert crdgen.main([*args, "--check"]) == 1
    assert "api.md is stale" in capsys.readouterr().err


def test_condition_sections_need_their_markers() -> None:
    committed = DOCS_PATH.read_text(encoding="utf-8")
    for marker in (crdgen.CONDITIONS_BEGIN_MARKER, crdgen.CAPACITY_CONDITIONS_END_MARKER):
        with pytest.raises(ValueError, match="markers"):
            crdgen.render_api_doc(committed.replace(marker, ""))
