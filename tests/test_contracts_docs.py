"""The contract documents in docs/: current with the code, valid for the tools that read them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ifuno_shared.events import EVENT_MODELS, Topic
from ifuno_tools.contracts import SERVICES, render, variables_read

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "tools" / "asyncapi-check"
DOCS = ROOT / "docs"


@pytest.mark.unit
def test_the_contracts_document_is_up_to_date() -> None:
    assert (DOCS / "contracts.md").read_text(encoding="utf-8") == render(), "run `make contracts`"


@pytest.mark.unit
def test_the_contracts_document_names_every_event_topic_endpoint_and_variable() -> None:
    text = (DOCS / "contracts.md").read_text(encoding="utf-8")
    names = [*EVENT_MODELS, *Topic, *(v for s in SERVICES for v in variables_read(s))]
    assert [name for name in names if f"`{name}`" not in text] == []
    for path in ("/health", "/ready", "/metrics", "/v1/clock", "/v1/summary"):
        assert f"`{path}`" in text
    headers = ("x-error", "x-original-topic", "x-original-partition", "x-original-offset")
    assert all(f"`{header}`" in text for header in (*headers, "x-consumer"))


@pytest.mark.unit
def test_the_readme_and_docs_point_only_inside_the_repository() -> None:
    documents = [ROOT / "README.md", *DOCS.rglob("*.md"), *DOCS.rglob("*.json")]
    assert [d.name for d in documents if "../shared" in d.read_text(encoding="utf-8")] == []
    assert "(docs/contracts.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


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


@pytest.mark.integration
def test_the_asyncapi_document_has_no_error_for_the_asyncapi_parser() -> None:
    result = asyncapi_errors(DOCS / "asyncapi.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout


@pytest.mark.integration
def test_the_checker_reports_a_reference_that_leads_nowhere(tmp_path: Path) -> None:
    document = json.loads((DOCS / "asyncapi.json").read_text())
    message = next(iter(document["components"]["messages"].values()))
    message["payload"]["properties"]["data"] = {"$ref": "#/$defs/Nowhere"}
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(document))
    result = asyncapi_errors(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "#/$defs/Nowhere" in result.stdout and "1 error(s)" in result.stdout
