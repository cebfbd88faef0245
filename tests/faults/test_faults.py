"""A store that stalls or fails mid-step (tests/fault_cases.py): each fault during ingest, train and promote.

Every case: the step completes, or fails with one message naming the endpoint and the retry budget; nothing
partial or different is ever read back; the ledgers add up; the rerun completes. The table: `make bench`.
"""

import pytest

from tests.conftest import S3_SECRET, S3_USER
from tests.fault_cases import CASES, FAULTS, PATIENCE, run_case

RIDDEN_OUT = set(FAULTS) - {"refused 10 s, mid-step (past the budget)"}


@pytest.mark.parametrize(("step", "fault"), CASES)
def test_a_fault_mid_step_is_ridden_out_or_fails_clearly_and_nothing_is_half_written(s3_endpoint, step, fault):
    bucket = f"f-{CASES.index((step, fault))}"
    case = run_case(s3_endpoint, (S3_USER, S3_SECRET), step, fault, bucket)
    assert case.fired >= 1, f"the fault never acted: {case}"
    assert not case.problems, case
    assert case.rerun == "completed", case
    if fault in RIDDEN_OUT:
        assert case.outcome == "completed", case
    else:
        assert case.outcome == "failed", case
        assert "cannot reach MinIO at http://127.0.0.1:" in case.message and \
            f"retry budget store.retry_budget_s = {PATIENCE.retry_budget_s:g} s" in case.message, case.message
        assert case.seconds < PATIENCE.retry_budget_s + PATIENCE.request_deadline_s + 2, case


def test_a_server_that_trickles_forever_fails_within_the_budget_and_names_the_deadline(s3_endpoint):
    """64 bytes a second never trips a read timeout; the per-request deadline cuts it, the budget ends it."""
    import time

    from components.config import StoreConfig
    from components.store import MinioStore, StoreError
    from tests.fault_proxy import FaultProxy

    patience = StoreConfig(retry_budget_s=3, first_delay_s=0.2, max_delay_s=0.5, connect_timeout_s=1,
                           read_timeout_s=2, request_deadline_s=1.5)
    with FaultProxy(s3_endpoint, max_hold_s=20) as proxy:
        store = MinioStore(proxy.endpoint, "trickle", access_key=S3_USER, secret_key=S3_SECRET, patience=patience)
        store.put_bytes("datasets/v1/windows.npz", bytes(50_000))
        proxy.trickle(64, 0.5, times=None)
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"to read datasets/v1/windows.npz: gave up after \d+ attempt\(s\) .*"
                                             r"last error: no complete answer within the request deadline of 1.5 s"):
            store.get_bytes("datasets/v1/windows.npz")
        assert time.monotonic() - started < 3 + 1.5 + 1.5
        assert proxy.fired("trickle") >= 2


def test_a_run_whose_store_goes_away_says_which_operation_failed(s3_endpoint, minio_env, tmp_path):
    """The store refuses connections once the run's first task has started: the summary leads with that
    task's own error (its operation and key), not with the reads the command makes after the run."""
    import os
    import subprocess
    import time

    import yaml

    from tests.fault_proxy import FaultProxy
    from tests.faults.test_recovery import TINYMLOPS, _running_task

    bucket = minio_env.rsplit("/", 1)[1]
    config = tmp_path / "impatient.yaml"
    config.write_text(yaml.safe_dump({"store": {"retry_budget_s": 1, "first_delay_s": 0.1, "connect_timeout_s": 1}}))
    root = tmp_path / "kfp-root"
    with FaultProxy(s3_endpoint, max_hold_s=60) as proxy:
        store_url = f"minio://{proxy.endpoint}/{bucket}"
        subprocess.run([TINYMLOPS, "simulate", "--store", store_url, "--devices", "2", "--windows-per-device", "5"],
                       check=True, capture_output=True, env=os.environ)
        run = subprocess.Popen([TINYMLOPS, "run", "drift-monitor", "--store", store_url, "--config", str(config),
                                "--pipeline-root", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ)
        deadline = time.monotonic() + 120
        while not _running_task(str(root), "ingest"):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.01)
        proxy.refuse(50)
        out, err = run.communicate(timeout=120)
    assert run.returncode == 1, out + err
    first = out.splitlines()[0]
    assert first.startswith("drift-monitor FAILED: StoreError: cannot reach MinIO at "), out
    assert "retry budget store.retry_budget_s = 1 s" in first and " to " in first, first
    assert "no summary from the store after the failure" in out
    assert "datasets/None" not in out
