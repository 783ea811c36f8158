"""Pure modules stay pure: no Kubernetes client, no kopf, no database, no HTTP."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "loadtest_operator"
PURE_PATHS = [PACKAGE / "api", PACKAGE / "analysis", PACKAGE / "builders", PACKAGE / "crdgen.py"]
FORBIDDEN = {"kopf", "kubernetes", "sqlmodel", "sqlalchemy", "httpx", "aiohttp", "alembic", "psycopg"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def pure_files() -> list[Path]:
    files: list[Path] = []
    for path in PURE_PATHS:
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_module_imports(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN == set()


def test_the_check_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import kopf\nfrom kubernetes.client import V1Job\nfrom . import sibling\n")
    assert imported_roots(sample) == {"kopf", "kubernetes"}
