"""The contract documents in docs/ hold for the tools that read them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "tools" / "asyncapi-check"


def asyncapi_errors(document: Path) -> subprocess.CompletedProcess[str]:
    """Run the AsyncAPI project's parser on `document` (tools/asyncapi-check)."""
    node = shutil.which("node")
    assert node, "node (20+) is needed to check docs/asyncapi.json"
    assert (CHECKER / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        "@asyncapi/parser is not installed: run `make test`, or "
        "`npm ci --prefix tools/asyncapi-check --no-audit --no-fund --ignore-scripts`"
    )
    return subprocess.run(
        [node, str(CHECKER / "check.mjs"), str(document)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_asyncapi_document_has_no_error_for_the_asyncapi_parser() -> None:
    result = asyncapi_errors(ROOT / "docs" / "asyncapi.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout


def test_the_checker_reports_a_reference_that_leads_nowhere(tmp_path: Path) -> None:
    document = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    message = next(iter(document["components"]["messages"].values()))
    message["payload"]["properties"]["data"] = {"$ref": "#/$defs/Nowhere"}
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(document))
    result = asyncapi_errors(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "#/$defs/Nowhere" in result.stdout and "1 error(s)" in result.stdout
