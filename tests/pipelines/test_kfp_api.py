"""pipelines.kfp_api against a local stand-in of the KFP 2.5 v2beta1 REST API, over HTTP through kfp.Client."""

import json
import logging
import socket

import pytest

from components.config import Config
from pipelines import kfp_api
from pipelines.kfp_api import KfpApiError
from pipelines.local import COMPILED_DIR
from tests.kfp_standin import KfpStandIn
from tests.pipelines.test_cron import BAD_CRONS

DRIFT = COMPILED_DIR / "drift_monitor.yaml"
TRAINING = COMPILED_DIR / "continuous_training.yaml"
STORE_URL = "minio://minio-service.kubeflow:9000/tinymlops-test"


@pytest.fixture(autouse=True)
def no_local_kfp_context(tmp_path, monkeypatch):
    """kfp.Client reads ~/.config/kfp/context.json (namespace, cookies): keep the user's out of the tests."""
    import kfp

    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    monkeypatch.delenv(kfp_api.TOKEN_ENV, raising=False)


@pytest.fixture
def standin():
    with KfpStandIn() as server:
        yield server


@pytest.fixture
def connection(standin):
    return kfp_api.connect(standin.host)


@pytest.fixture
def params():
    return {"store_url": STORE_URL, "config_json": Config().to_json()}


def test_upload_both_pipelines_then_a_second_version(standin, connection, capsys):
    drift = kfp_api.upload(connection, "drift-monitor", DRIFT)
    training = kfp_api.upload(connection, "continuous-training", TRAINING)

    assert drift["new_pipeline"] and drift["created"] and training["new_pipeline"]
    assert {p["display_name"] for p in standin.pipelines.values()} == {"drift-monitor", "continuous-training"}
    uploads = standin.seen("POST", "/pipelines/upload")
    assert [u.arg("name") for u in uploads] == ["drift-monitor", "continuous-training"]
    assert uploads[0].files["uploadfile"] == ("drift_monitor.yaml", DRIFT.read_bytes())
    assert standin.version_spec(drift["version_id"])["pipelineInfo"]["name"] == "drift-monitor"
    assert standin.version_spec(training["version_id"])["pipelineInfo"]["name"] == "continuous-training"
    assert drift["version_name"] == "drift-monitor"  # the server names a first version after its pipeline
    assert drift["url"] == f"{standin.host}/#/pipelines/details/{drift['pipeline_id']}/version/{drift['version_id']}"

    second = kfp_api.upload(connection, "drift-monitor", DRIFT, version="v2")
    assert second["created"] and not second["new_pipeline"]
    assert second["pipeline_id"] == drift["pipeline_id"] and second["version_id"] != drift["version_id"]
    (upload_version,) = standin.seen("POST", "/pipelines/upload_version")
    assert upload_version.arg("pipelineid") == drift["pipeline_id"] and upload_version.arg("name") == "v2"
    assert len(standin.pipelines) == 2
    assert sorted(v["api"]["display_name"] for v in standin.versions.values()
                  if v["api"]["pipeline_id"] == drift["pipeline_id"]) == ["drift-monitor", "v2"]
    assert capsys.readouterr().out == ""  # kfp's "Pipeline details: <link>" lines stay off our stdout


def test_upload_without_a_version_name_is_idempotent(standin, connection):
    kfp_api.upload(connection, "drift-monitor", DRIFT)
    first = kfp_api.upload(connection, "drift-monitor", TRAINING)
    again = kfp_api.upload(connection, "drift-monitor", TRAINING)

    assert first["created"] and first["version_name"].startswith("drift-monitor-")
    assert not again["created"] and again["version_id"] == first["version_id"]
    assert len(standin.seen("POST", "/pipelines/upload_version")) == 1
    with pytest.raises(KfpApiError, match=r"already has a version named 'drift-monitor-"):
        kfp_api.upload(connection, "drift-monitor", DRIFT, version=first["version_name"])


def test_run_an_uploaded_pipeline_with_parameters(standin, connection, params, capsys):
    kfp_api.upload(connection, "drift-monitor", DRIFT)
    latest = kfp_api.upload(connection, "drift-monitor", DRIFT, version="v2")

    result = kfp_api.run(connection, "drift-monitor", "tinymlops", params, run_name="drift check")

    (request,) = standin.seen("POST", "/runs")
    body = request.json
    assert body["display_name"] == "drift check"
    assert body["pipeline_version_reference"] == {"pipeline_id": latest["pipeline_id"],
                                                  "pipeline_version_id": latest["version_id"]}
    assert "pipeline_spec" not in body
    assert body["runtime_config"]["parameters"] == params
    (experiment,) = standin.experiments.values()
    assert experiment["display_name"] == "tinymlops" and body["experiment_id"] == experiment["experiment_id"]
    assert result["run_id"] in standin.runs and result["state"] == "PENDING"
    assert result["version_id"] == latest["version_id"] and result["experiment_name"] == "tinymlops"
    assert result["parameters"] == ["config_json", "store_url"]
    assert result["url"] == f"{standin.host}/#/runs/details/{result['run_id']}"
    assert capsys.readouterr().out == ""

    older = kfp_api.run(connection, "drift-monitor", "tinymlops", {"store_url": STORE_URL}, version="drift-monitor")
    assert older["version_name"] == "drift-monitor"
    assert standin.runs[older["run_id"]]["runtime_config"]["parameters"] == {"store_url": STORE_URL}
    assert len(standin.experiments) == 1  # the experiment is reused, not created twice


def test_run_a_compiled_package_directly(standin, connection, params):
    result = kfp_api.run(connection, TRAINING, "tinymlops", params)

    (request,) = standin.seen("POST", "/runs")
    sent = request.json["pipeline_spec"]
    assert sent["pipeline_spec"]["pipelineInfo"]["name"] == "continuous-training"
    assert "kubernetes" in sent["platform_spec"]["platforms"]  # the store secret travels with the run
    assert request.json["runtime_config"]["parameters"] == params
    assert result["package"] == str(TRAINING) and result["pipeline_id"] is None
    assert result["run_name"].startswith("continuous-training ")
    assert not standin.pipelines


def test_parameters_the_pipeline_does_not_declare_are_refused_before_sending(standin, connection):
    kfp_api.upload(connection, "drift-monitor", DRIFT)
    with pytest.raises(KfpApiError, match=r"takes parameters \['config_json', 'store_url'\].*\['storeurl'\]"):
        kfp_api.run(connection, "drift-monitor", "tinymlops", {"storeurl": STORE_URL})
    with pytest.raises(KfpApiError, match="config_json must be a string, not dict"):
        kfp_api.run(connection, DRIFT, "tinymlops", {"config_json": Config().to_dict()})
    with pytest.raises(KfpApiError, match="no pipeline named 'nope'.*upload it first"):
        kfp_api.run(connection, "nope", "tinymlops", {})
    assert not standin.seen("POST", "/runs")


def test_schedule_a_recurring_run(standin, connection, params):
    uploaded = kfp_api.upload(connection, "drift-monitor", DRIFT)

    result = kfp_api.schedule(connection, "drift-monitor", "tinymlops", " 0 0  */6 * * * ", params,
                              "drift-monitor every 6h")

    (request,) = standin.seen("POST", "/recurringruns")
    body = request.json
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 */6 * * *"}}
    assert body["max_concurrency"] == 1 and body["no_catchup"] is True and body["mode"] == "ENABLE"
    assert body["display_name"] == "drift-monitor every 6h"
    assert body["pipeline_version_reference"]["pipeline_version_id"] == uploaded["version_id"]
    assert body["runtime_config"]["parameters"] == params
    stored = standin.recurring_runs[result["recurring_run_id"]]
    assert stored["status"] == "ENABLED" and stored["max_concurrency"] == "1"
    assert result["cron"] == "0 0 */6 * * *" and result["max_concurrency"] == 1 and result["no_catchup"] is True
    assert result["mode"] == "ENABLE" and result["version_id"] == uploaded["version_id"]
    assert result["url"] == f"{standin.host}/#/recurringrun/details/{result['recurring_run_id']}"

    with pytest.raises(KfpApiError, match="already has an enabled recurring run named 'drift-monitor every 6h'"):
        kfp_api.schedule(connection, "drift-monitor", "tinymlops", "0 0 3 * * *", params, "drift-monitor every 6h")
    assert len(standin.seen("POST", "/recurringruns")) == 1


@pytest.mark.parametrize("cron, expected", BAD_CRONS)
def test_a_bad_cron_is_refused_before_any_request(standin, connection, params, cron, expected):
    sent = len(standin.requests)
    with pytest.raises(KfpApiError, match=expected) as caught:
        kfp_api.schedule(connection, "drift-monitor", "tinymlops", cron, params, "nightly")
    assert "SECONDS MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK" in str(caught.value) or "@every" in str(caught.value)
    assert len(standin.requests) == sent


def test_list_runs_newest_first_and_by_experiment(standin, connection, params):
    kfp_api.upload(connection, "drift-monitor", DRIFT)
    a1 = kfp_api.run(connection, "drift-monitor", "exp-a", params, run_name="a1")
    b1 = kfp_api.run(connection, DRIFT, "exp-b", params, run_name="b1")
    a2 = kfp_api.run(connection, "drift-monitor", "exp-a", params, run_name="a2")

    everything = kfp_api.list_runs(connection)
    assert [r["run_id"] for r in everything] == [a2["run_id"], b1["run_id"], a1["run_id"]]
    assert everything[0]["name"] == "a2" and everything[0]["state"] == "PENDING"
    assert everything[0]["finished_at"] is None and everything[0]["created_at"]  # not the epoch
    assert everything[0]["version_id"] == a2["version_id"] and everything[1]["version_id"] is None
    assert [r["name"] for r in kfp_api.list_runs(connection, "exp-a")] == ["a2", "a1"]
    assert [r["name"] for r in kfp_api.list_runs(connection, page_size=1)] == ["a2"]
    listed = standin.seen("GET", "/runs")[-1]
    assert listed.arg("sort_by") == "created_at desc" and listed.arg("page_size") == "1"
    with pytest.raises(KfpApiError, match="no experiment named 'exp-z'"):
        kfp_api.list_runs(connection, "exp-z")
    assert kfp_api.list_runs(connection, "exp-b")[0]["name"] == "b1"


def test_an_unreachable_host_is_one_clear_error(capsys):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"http://127.0.0.1:{port}"

    with pytest.raises(KfpApiError) as caught:
        kfp_api.connect(host)

    message = str(caught.value)
    assert host in message and "/apis/v2beta1/healthz" in message and "connection refused" in message
    assert "\n" not in message and "Traceback" not in message
    assert caught.value.host == host and caught.value.status is None
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained urllib3 traceback
    assert capsys.readouterr().out == ""


def test_a_host_without_a_scheme_is_refused():
    with pytest.raises(KfpApiError, match="must start with http:// or https://"):
        kfp_api.connect("localhost:8080")
    with pytest.raises(KfpApiError, match="KF_PIPELINES_ENDPOINT"):
        kfp_api.connect("")


def test_a_rejected_upload_carries_the_servers_message(standin, connection, tmp_path):
    broken = tmp_path / "drift_monitor.yaml"
    broken.write_text(DRIFT.read_text().replace("schemaVersion: 2.1.0", "schemaVersion: 2.1.0\nnotAField: 1", 1))

    with pytest.raises(KfpApiError) as caught:
        kfp_api.upload(connection, "drift-monitor", broken)

    error = caught.value
    assert error.status == 400 and "invalid v2 pipeline spec" in error.server_message
    assert 'no field named "notAField"' in str(error)
    assert str(error).startswith(f"the KFP API at {standin.host} rejected the upload of pipeline 'drift-monitor'")
    assert standin.seen("POST", "/pipelines/upload")[0].status == 400 and not standin.pipelines


def test_a_server_failure_carries_the_servers_message(standin, connection, params):
    kfp_api.upload(connection, "drift-monitor", DRIFT)
    standin.inject("POST", "/runs", 500, "Failed to create a run: Internal Server Error: database is locked")

    with pytest.raises(KfpApiError, match=r"rejected the run .*HTTP 500: Failed to create a run: .*database is locked"):
        kfp_api.run(connection, "drift-monitor", "tinymlops", params)

    standin.inject("GET", "/healthz", 503, "upstream connect error")
    with pytest.raises(KfpApiError, match=r"answered GET /apis/v2beta1/healthz with HTTP 503: upstream connect error"):
        kfp_api.connect(standin.host)  # at once: kfp.Client itself would retry healthz for 25 s


def test_the_token_is_sent_and_never_shown(monkeypatch, caplog, capsys, params):
    token = "s3cret-kfp-token"
    caplog.set_level(logging.DEBUG)
    with KfpStandIn(token=token) as standin:
        with pytest.raises(KfpApiError, match="HTTP 401.*KF_PIPELINES_TOKEN") as refused:
            kfp_api.connect(standin.host)
        monkeypatch.setenv(kfp_api.TOKEN_ENV, token)
        connection = kfp_api.connect(standin.host)
        uploaded = kfp_api.upload(connection, "drift-monitor", DRIFT)
        ran = kfp_api.run(connection, "drift-monitor", "tinymlops", params)
        standin.inject("POST", "/runs", 400, "Failed to create a run: Invalid input error: nope")
        with pytest.raises(KfpApiError) as rejected:
            kfp_api.run(connection, "drift-monitor", "tinymlops", params)

    authorised = [r for r in standin.requests if r.headers.get("authorization") == f"Bearer {token}"]
    assert len(authorised) == len(standin.requests) - 1  # all but the refused probe
    shown = [str(refused.value), str(rejected.value), repr(uploaded), repr(ran), caplog.text,
             *capsys.readouterr()]
    assert not [text for text in shown if token in text]


def test_the_standin_rejects_what_the_server_rejects(standin, connection, params):
    """Through kfp.Client directly: the stand-in's validation, which our functions never trip."""
    from kfp_server_api.exceptions import ApiException

    kfp_api.upload(connection, "drift-monitor", DRIFT)
    client = connection.client
    pipeline_id = client.get_pipeline_id("drift-monitor")
    version_id = client.list_pipeline_versions(pipeline_id).pipeline_versions[0].pipeline_version_id
    experiment_id = client.create_experiment("raw").experiment_id
    source = {"experiment_id": experiment_id, "pipeline_id": pipeline_id, "version_id": version_id}

    def rejected(call, **kwargs) -> str:
        with pytest.raises(ApiException) as caught:
            call(**source, **kwargs)
        assert caught.value.status == 400
        body = caught.value.body
        return body.decode() if isinstance(body, bytes) else body

    assert "parameter(s) provided are not required by pipeline: extra" in rejected(
        client.run_pipeline, job_name="r", params={**params, "extra": "1"})
    assert "input parameter store_url requires type string" in rejected(
        client.run_pipeline, job_name="r", params={"store_url": 3})
    assert "Expected exactly 6 fields, found 5" in rejected(
        client.create_recurring_run, job_name="s", cron_expression="0 3 * * *", params=params)
    assert "max_concurrency 1, received 2" in rejected(
        client.create_recurring_run, job_name="s", cron_expression="0 0 3 * * *", max_concurrency=2, params=params)
    assert "Support 1-10. Received 11" in rejected(
        client.create_recurring_run, job_name="s", cron_expression="0 0 3 * * *", max_concurrency=11, params=params)
    assert not standin.runs and not standin.recurring_runs


def test_reuploading_an_unchanged_package_adds_no_version(standin, connection):
    first = kfp_api.upload(connection, "drift-monitor", DRIFT)
    again = kfp_api.upload(connection, "drift-monitor", DRIFT)
    assert not again["created"] and again["version_id"] == first["version_id"]
    assert len(standin.seen("POST", "/pipelines/upload_version")) == 0


def test_the_cli_uploads_runs_and_schedules(standin, capsys):
    from pipelines.cli import main

    common = ["--host", standin.host, "--json"]
    assert main(["kfp", "upload", "continuous-training", *common]) == 0
    assert main(["kfp", "run", "continuous-training", "--store-url", STORE_URL, *common]) == 0
    assert main(["kfp", "schedule", "continuous-training", "--cron", "0 0 3 * * *", *common]) == 0
    capsys.readouterr()
    assert main(["kfp", "runs", "--host", standin.host]) == 0
    table = capsys.readouterr().out.splitlines()  # a table for a person: a header, one row per run
    assert table[0].split() == ["state", "created_at", "finished_at", "name", "run_id"] and len(table) == 2
    assert table[1].split()[0] == "PENDING" and table[1].split()[2] == "-"
    assert main(["kfp", "runs", *common]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["finished_at"] is None
    assert main(["kfp", "schedule", "continuous-training", "--cron", "0 3 * * *", *common]) == 1
    assert "did you mean '0 0 3 * * *'" in capsys.readouterr().err
    (recurring,) = standin.recurring_runs.values()
    assert recurring["max_concurrency"] in (1, "1") and recurring["no_catchup"] is True
    (created,) = standin.runs.values()
    assert created["runtime_config"]["parameters"]["store_url"] == STORE_URL
