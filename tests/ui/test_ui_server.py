"""The UI's HTTP layer (``kubectl_sj.ui.server``) over a stand-in for the API client: which page a
client failure becomes, the origin and host checks, bad query values, and the in-cluster
credentials. The real client against real servers is in test_ui_browser.py and the real-server tier."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from kubectl_sj.errors import PluginError, Request, api_error_message, unreachable_message
from kubectl_sj.objects import ScheduledJob
from kubectl_sj.ui.server import UiSettings, build_app, in_cluster_connection
from punctual.jobs import ANNOTATION_BACKFILL_CANCEL, ANNOTATION_BACKFILL_REQUEST, LABEL_SCHEDULED_JOB


class FakeCluster:
    """Answers like kubectl_sj.client.Cluster: ScheduledJobs, or the PluginError it would raise."""

    def __init__(self) -> None:
        self.items = [
            ScheduledJob.from_body(
                {
                    "metadata": {"name": "report", "namespace": "team-a", "uid": "u1"},
                    "spec": {
                        "schedule": "*/5 * * * *",
                        "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
                    },
                }
            )
        ]
        self.failure: PluginError | None = None
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.listed: list[tuple[str | None, str | None]] = []
        self.logs: list[tuple[str, bool]] = []
        self.jobs_listed: list[tuple[str, str]] = []

    def list_scheduled_jobs(self, namespace: str | None, *, label_selector: str | None = None) -> list[ScheduledJob]:
        self.listed.append((namespace, label_selector))
        if self.failure:
            raise self.failure
        return self.items

    def get_scheduled_job(self, namespace: str, name: str) -> ScheduledJob:
        found = [sj for sj in self.items if (sj.namespace, sj.name) == (namespace, name)]
        if not found:
            raise PluginError(
                api_error_message(Request("get", "scheduledjobs.punctual.dev", namespace, name), code=404, body=None)
            )
        return found[0]

    def patch_scheduled_job(self, namespace: str, name: str, patch: dict[str, Any]) -> ScheduledJob:
        if self.failure:
            raise self.failure
        self.patches.append((namespace, name, patch))
        return self.get_scheduled_job(namespace, name)

    def list_jobs(self, namespace: str, *, label_selector: str) -> list[dict[str, Any]]:
        self.jobs_listed.append((namespace, label_selector))
        return []

    def list_pods(self, namespace: str, *, label_selector: str) -> list[dict[str, Any]]:
        if label_selector != "batch.kubernetes.io/job-name=report-1":
            return []
        return [{"metadata": {"name": "report-1-abcde", "creationTimestamp": "2026-11-23T10:00:00Z"}}]

    def pod_log(self, namespace: str, pod: str, *, container: str | None, follow: bool) -> Iterator[bytes]:
        self.logs.append((pod, follow))
        yield b"line 1\n"
        yield b"line 2\n"

    def list_events(self, namespace: str, *, involved_uid: str) -> list[dict[str, Any]]:
        raise PluginError(api_error_message(Request("list", "events", namespace), code=403, body=None))


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], FakeCluster]]:
    cluster = FakeCluster()
    app = build_app(cluster, UiSettings(default_namespace="team-a", context="test"))  # type: ignore[arg-type]
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, cluster


@pytest.mark.asyncio
async def test_the_fleet_starts_in_the_default_namespace_and_the_field_changes_it(served: Any) -> None:
    client, cluster = served
    response = await client.get("/")
    assert response.status == 200
    assert 'data-name="report"' in await response.text()
    await client.get("/?ns=&l=team%3Ddata")
    assert cluster.listed == [("team-a", None), (None, "team=data")]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("failure", "status", "text"),
    [
        (
            api_error_message(Request("list", "scheduledjobs.punctual.dev", None), code=403, body=None),
            403,
            'you need "list" on scheduledjobs.punctual.dev at the cluster scope (all namespaces)',
        ),
        (unreachable_message("https://10.0.0.1:6443", "connection refused"), 502, "connection refused"),
    ],
    ids=["forbidden", "api down"],
)
async def test_a_client_failure_is_a_page(served: Any, failure: str, status: int, text: str) -> None:
    client, cluster = served
    cluster.failure = PluginError(failure)
    response = await client.get("/")
    body = html.unescape(await response.text())
    assert response.status == status
    assert text in body and "Traceback" not in body


@pytest.mark.asyncio
async def test_a_forbidden_section_is_said_in_place(served: Any) -> None:
    client, _ = served
    response = await client.get("/ns/team-a/sj/report")
    assert response.status == 200
    assert 'id="events-error">error: forbidden: you need &#34;list&#34; on events in namespace &#34;team-a&#34;' in (
        await response.text()
    )


@pytest.mark.asyncio
async def test_actions_patch_and_redirect(served: Any) -> None:
    client, cluster = served
    response = await client.post("/ns/team-a/sj/report/suspend", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/ns/team-a/sj/report"
    response = await client.post("/ns/team-a/sj/report/run", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/ns/team-a/sj/report?run=")
    (_, _, suspend), (_, _, run) = cluster.patches
    assert suspend == {"spec": {"suspend": True}}
    # Run now has no overrides: a stale run-overrides annotation goes in the same patch.
    annotations = run["metadata"]["annotations"]
    assert list(annotations) == ["punctual.dev/run-requested-at", "punctual.dev/run-overrides"]
    assert annotations["punctual.dev/run-overrides"] is None


@pytest.mark.asyncio
async def test_foreign_origins_and_hosts_are_refused(served: Any) -> None:
    client, cluster = served
    response = await client.post("/ns/team-a/sj/report/suspend", headers={"Origin": "http://evil.test"})
    assert response.status == 403
    response = await client.post("/ns/team-a/sj/report/suspend", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status == 403
    assert cluster.patches == []
    response = await client.get("/", headers={"Host": "rebound.example"})
    assert response.status == 421


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/timeline?hours=x", "/timeline?hours=0", "/timeline?hours=100"])
async def test_bad_query_values_are_an_error_page(served: Any, path: str) -> None:
    client, _ = served
    response = await client.get(path)
    assert response.status == 400
    assert "hours must be a number from 0 to 48" in await response.text()


@pytest.mark.asyncio
async def test_unknown_pages_and_methods(served: Any) -> None:
    client, _ = served
    assert (await client.get("/nope")).status == 404
    assert (await client.get("/ns/team-a/sj/report/suspend")).status == 405
    missing = await client.get("/ns/team-a/sj/gone")
    assert missing.status == 404 and "scheduledjobs.punctual.dev &#34;gone&#34; not found" in await missing.text()


@pytest.mark.asyncio
async def test_the_raw_log_streams_the_newest_pod(served: Any) -> None:
    client, cluster = served
    response = await client.get("/ns/team-a/sj/report/runs/report-1/log?follow=1")
    assert response.status == 200 and response.content_type == "text/plain"
    assert await response.text() == "line 1\nline 2\n"
    assert cluster.logs == [("report-1-abcde", True)]
    missing = await client.get("/ns/team-a/sj/report/runs/report-2/log")
    assert missing.status == 404 and "has no pods" in await missing.text()


def test_in_cluster_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(PluginError, match="not in a pod"):
        in_cluster_connection(tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(PluginError, match="no ServiceAccount token"):
        in_cluster_connection(tmp_path)
    (tmp_path / "token").write_text("first\n")
    (tmp_path / "namespace").write_text("punctual-system")
    connection = in_cluster_connection(tmp_path)
    assert (connection.host, connection.namespace, connection.ca_file) == (
        "https://10.96.0.1:443",
        "punctual-system",
        str(tmp_path / "ca.crt"),
    )
    assert connection.authorization() == "Bearer first"
    (tmp_path / "token").write_text("rotated")  # the kubelet rotates projected tokens
    assert connection.authorization() == "Bearer rotated"


# -- backfill: the form, its checks, the request annotation, Cancel ----------------------------------

RANGE = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T01:00:00Z", "parallel": "2"}


@pytest.mark.asyncio
async def test_the_backfill_form_sends_the_plugins_request(served: Any) -> None:
    client, cluster = served
    response = await client.post("/ns/team-a/sj/report/backfill", data=RANGE, allow_redirects=False)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    match = re.fullmatch(r"/ns/team-a/sj/report\?backfill=([^#]+)#backfills", location)
    assert match, location
    [(namespace, name, patch)] = cluster.patches
    assert (namespace, name, list(patch["metadata"]["annotations"])) == (
        "team-a",
        "report",
        [ANNOTATION_BACKFILL_REQUEST],
    )
    request = json.loads(patch["metadata"]["annotations"][ANNOTATION_BACKFILL_REQUEST])
    assert request == {
        "token": parse_qs(urlsplit(location).query)["backfill"][0],
        "from": "2026-11-20T00:00:00Z",
        "to": "2026-11-20T01:00:00Z",
        "parallel": 2,
    }
    # The plan was made from the job's Jobs, as kubectl sj backfill makes it (skip-existing, the bound).
    assert cluster.jobs_listed == [("team-a", f"{LABEL_SCHEDULED_JOB}=report")]
    page = await client.get(location)
    assert 'id="backfill-outcome" class="notice final-waiting" data-state="waiting"' in await page.text()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"from": "2026-11-20T00:00:00Z"}, "give both --from and --to"),
        ({**RANGE, "from": "last week"}, "invalid --from &#39;last week&#39;; use RFC 3339"),
        ({**RANGE, "parallel": "0"}, "--parallel must be from 1 to 100"),
        ({**RANGE, "parallel": "many"}, "--parallel must be a whole number, got &#39;many&#39;"),
        ({**RANGE, "to": "2099-01-01T00:00:00Z"}, "is in the future; a backfill runs past slots"),
        ({**RANGE, "from": "2026-11-21T00:00:00Z"}, "--from 2026-11-21T00:00:00Z is after --to 2026-11-20T01:00:00Z"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "more than 10000 slots"),
    ],
    ids=["no to", "bad time", "parallel 0", "parallel not a number", "future", "reversed", "too many slots"],
)
async def test_a_refused_backfill_is_a_400_page_and_sends_nothing(
    served: Any, fields: dict[str, str], text: str
) -> None:
    client, cluster = served
    response = await client.post("/ns/team-a/sj/report/backfill", data=fields)
    body = await response.text()
    assert response.status == 400, body
    assert text in body and "Bad request" in body
    assert '<a href="/ns/team-a/sj/report" id="back">Back to team-a/report</a>' in body
    assert cluster.patches == []


@pytest.mark.asyncio
async def test_a_forbidden_backfill_names_the_verb_and_resource(served: Any) -> None:
    client, cluster = served
    cluster.failure = PluginError(
        api_error_message(Request("patch", "scheduledjobs.punctual.dev", "team-a", "report"), code=403, body=None)
    )
    response = await client.post("/ns/team-a/sj/report/backfill", data=RANGE)
    assert response.status == 403
    assert 'you need "patch" on scheduledjobs.punctual.dev in namespace "team-a"' in html.unescape(
        await response.text()
    )


@pytest.mark.asyncio
async def test_a_backfill_or_cancel_from_another_site_is_refused(served: Any) -> None:
    client, cluster = served
    for path, data in (("backfill", RANGE), ("backfill/cancel", {"token": "t"})):
        response = await client.post(f"/ns/team-a/sj/report/{path}", data=data, headers={"Origin": "http://evil.test"})
        assert response.status == 403 and "another site" in await response.text()
        response = await client.post(
            f"/ns/team-a/sj/report/{path}", data=data, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert response.status == 403
    assert cluster.patches == []


def with_backfills(cluster: FakeCluster, *entries: dict[str, Any]) -> None:
    body = dict(cluster.items[0].body)
    cluster.items = [ScheduledJob.from_body({**body, "status": {"backfills": list(entries)}})]


def entry(token: str, state: str) -> dict[str, Any]:
    return {
        "token": token,
        "state": state,
        "fromTime": "2026-11-20T00:00:00Z",
        "toTime": "2026-11-20T05:00:00Z",
        "parallel": 1,
        "total": 6,
        "done": 2,
        "running": 1,
        "pending": 3,
    }


@pytest.mark.asyncio
async def test_the_job_page_shows_the_backfills_and_follows_an_open_one(served: Any) -> None:
    client, cluster = served
    with_backfills(cluster, entry("bf-old", "Completed"), entry("bf-new", "Running"))
    body = await (await client.get("/ns/team-a/sj/report")).text()
    rows = re.findall(r'<tr data-token="([^"]+)" data-state="([^"]+)" data-done="(\d+)" data-total="(\d+)">', body)
    assert rows == [("bf-old", "Completed", "2", "6"), ("bf-new", "Running", "2", "6")]
    assert body.count('class="backfill-cancel"') == 1  # only the open one can be cancelled
    assert 'name="token" value="bf-new"' in body
    assert 'data-refresh="2"' in body  # a backfill in progress: the page follows it
    with_backfills(cluster, entry("bf-old", "Completed"))
    body = await (await client.get("/ns/team-a/sj/report")).text()
    assert 'data-refresh="2"' not in body and 'class="backfill-cancel"' not in body


@pytest.mark.asyncio
async def test_cancel_sends_the_plugins_cancel_annotation(served: Any) -> None:
    client, cluster = served
    with_backfills(cluster, entry("bf-1", "Running"), entry("bf-2", "Waiting"))
    response = await client.post("/ns/team-a/sj/report/backfill/cancel", data={"token": "bf-2"}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/ns/team-a/sj/report?backfill=bf-2#backfills"
    assert cluster.patches == [
        ("team-a", "report", {"metadata": {"annotations": {ANNOTATION_BACKFILL_CANCEL: "bf-2"}}})
    ]


@pytest.mark.asyncio
async def test_cancel_of_a_backfill_not_in_progress_is_a_400_page(served: Any) -> None:
    client, cluster = served
    with_backfills(cluster, entry("bf-1", "Completed"))
    response = await client.post("/ns/team-a/sj/report/backfill/cancel", data={"token": "bf-1"})
    assert response.status == 400
    assert "scheduledjob.punctual.dev/report has no backfill bf-1 in progress" in await response.text()
    assert cluster.patches == []


@pytest.mark.asyncio
async def test_preview_shows_the_plan_and_sends_nothing(served: Any) -> None:
    client, cluster = served
    response = await client.get("/ns/team-a/sj/report/backfill/plan", params=RANGE)
    body = await response.text()
    assert response.status == 200, body
    # */5 from 00:00 to 01:00, both ends inclusive: 13 slots, none with a Job (the fake lists none).
    assert re.findall(r'<tr data-action="(\w+)"', body) == ["run"] * 13
    assert (
        "13 slots from 2026-11-20T00:00:00+00:00 to 2026-11-20T01:00:00+00:00: 13 to run, 0 skipped (existing); "
        "parallel 2; nothing requested yet"
    ) in body
    # Its Start button posts the same fields to the backfill form's action.
    for key, value in RANGE.items():
        assert f'<input type="hidden" name="{key}" value="{value}">' in body
    assert '<form method="post" action="/ns/team-a/sj/report/backfill" id="plan-start">' in body
    assert cluster.patches == []
    refused = await client.get("/ns/team-a/sj/report/backfill/plan", params={**RANGE, "parallel": "500"})
    assert refused.status == 400 and "--parallel must be from 1 to 100" in await refused.text()
