"""Shipped YAML agrees with the API: the examples people copy are valid, and the Helm chart carries the
generated CRD unchanged."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest_operator import crdgen
from loadtest_operator.loadtest.validation import parse_spec, validate_spec

REPO_ROOT = Path(__file__).resolve().parents[3]
HELM_CRD = REPO_ROOT / "helm" / "llmload" / "crds" / crdgen.CRD_FILE_NAME


def example_loadtests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((REPO_ROOT / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "LoadTest":
                found.append((f"{path.name}:{document['metadata']['name']}", document))
    return found


EXAMPLES = example_loadtests()


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/ has no LoadTest"


@pytest.mark.parametrize("document", [doc for _, doc in EXAMPLES], ids=[name for name, _ in EXAMPLES])
def test_example_is_a_valid_loadtest(document: dict[str, Any]) -> None:
    assert document["apiVersion"] == "llmload.io/v1alpha1"
    spec, problems = parse_spec(document["spec"])
    assert problems == []
    assert spec is not None
    assert validate_spec(spec) == []


def test_helm_chart_ships_the_generated_crd() -> None:
    assert HELM_CRD.read_text(encoding="utf-8") == crdgen.render_crd_yaml(), (
        f"{HELM_CRD.relative_to(REPO_ROOT)} differs from the generated CRD; run "
        f"`{crdgen.REGENERATE_COMMAND} && cp crds/{crdgen.CRD_FILE_NAME} {HELM_CRD.parent.relative_to(REPO_ROOT)}/`"
    )
