"""The import-linter contracts (.importlinter) hold for the tree, and they do catch a wrong-way import."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / ".importlinter")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_its_layers() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-3000:]


def copy_tree(tmp_path: Path) -> None:
    for name in ("loadtest_operator", "loadgen", "mockservers"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")


def test_a_pure_module_importing_the_kubernetes_client_breaks_the_contracts(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    plan = tmp_path / "loadtest_operator" / "loadtest" / "plan.py"
    plan.write_text(
        plan.read_text() + "\nimport kubernetes  # noqa\nfrom loadtest_operator.io import kube  # noqa\n"
    )
    run = lint_imports(tmp_path)
    assert run.returncode != 0
    assert "loadtest_operator.loadtest.plan -> kubernetes" in run.stdout
    assert "loadtest_operator.loadtest.plan -> loadtest_operator.io.kube" in run.stdout


def test_the_product_importing_the_test_servers_breaks_the_contracts(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    runner = tmp_path / "loadgen" / "runner.py"
    runner.write_text(runner.read_text() + "\nfrom mockservers import latency  # noqa\n")
    run = lint_imports(tmp_path)
    assert run.returncode != 0
    assert "loadgen.runner -> mockservers.latency" in run.stdout
