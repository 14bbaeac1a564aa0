"""The web UI in a real browser against ``punctual sandbox`` (the emulator with the real operator).

One sandbox (examples/ applied, as the README's command 1 does) and one ``kubectl sj ui --port 0``
on its kubeconfig, both processes; Debian's chromium driven by Playwright clicks through the pages
as a person would: the fleet lists the examples, the timeline shows the next runs (the same starts
``kubectl sj next`` prints), Run now starts a run that the operator records in the history, a
backfill started from the form shows its progress and is cancelled, and suspend shows on the
fleet. Error pages: not found, the API down, a cross-site POST refused, a refused backfill range.
The emulator has no RBAC, so the forbidden page is tested against the real API server
(``tests/realserver/test_realserver_ui.py``). Screenshots of each page: ``test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from punctual_realserver import free_port
from punctual_testing import wait_for
from punctual_ui import KUBECTL_SJ, ROOT, UiProcess, chromium, chromium_path, screenshot

PUNCTUAL = ROOT / ".venv" / "bin" / "punctual"

pytestmark = pytest.mark.skipif(not PUNCTUAL.exists(), reason="needs the venv's punctual (pip install -e '.[dev]')")


@dataclass
class Sandbox:
    kubeconfig: Path
    applied: list[str]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    chromium_path()  # before starting anything: skip (or fail under PUNCTUAL_REQUIRE_TOOLS=1) first
    kubeconfig = tmp_path_factory.mktemp("sandbox") / "kubeconfig"
    proc = subprocess.Popen(
        [str(PUNCTUAL), "sandbox", "--for", "300s", "--kubeconfig-out", str(kubeconfig)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("Stop with Ctrl-C" in line for line in output), 60, what="the sandbox's banner")
        applied = next(line for line in output if line.startswith("applied: "))
        yield Sandbox(kubeconfig=kubeconfig, applied=applied.removeprefix("applied: ").strip().split(", "))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(5)
        proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def ui(sandbox: Sandbox) -> Iterator[UiProcess]:
    with UiProcess(kubeconfig=sandbox.kubeconfig) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def kubectl_sj(sandbox: Sandbox, *args: str) -> str:
    done = subprocess.run(
        [str(KUBECTL_SJ), *args],
        env={"PATH": "/usr/bin:/bin", "KUBECONFIG": str(sandbox.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_fleet_lists_the_examples(ui: UiProcess, sandbox: Sandbox, page: Any) -> None:
    page.goto(ui.url)
    page.wait_for_selector("#fleet")
    shown = page.eval_on_selector_all("#fleet tbody tr", "rows => rows.map(r => r.dataset.name)")
    assert shown == sorted(sandbox.applied)
    heartbeat = page.locator('#fleet tr[data-name="heartbeat"]')
    assert heartbeat.locator("td").nth(2).inner_text() == "*/10 * * * * *"
    # heartbeat runs every 10 s in the sandbox: its last result and sparkline fill in, and the page
    # updates itself without a reload (the marker set on this window survives the updates).
    page.evaluate("window.__notReloaded = true")
    stamp = page.inner_text("#updated")
    wait_for(lambda: heartbeat.locator(".r-Succeeded").count() == 1, 40, interval=0.5, what="heartbeat's first success")
    wait_for(lambda: page.inner_text("#updated") != stamp, 15, interval=0.5, what="a live update of the fleet")
    assert page.evaluate("window.__notReloaded") is True
    assert heartbeat.locator("svg.spark rect.f-Succeeded").count() >= 1
    assert heartbeat.locator(".rate").inner_text().endswith("%")
    screenshot(page, "fleet")


def test_no_page_loads_anything_from_elsewhere(ui: UiProcess, page: Any) -> None:
    """Server-rendered HTML, inline SVG and script: every request a page makes goes to the UI itself."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    for path in ("", "timeline", "ns/default/sj/heartbeat", "ns/default/sj/no-such-job"):
        page.goto(ui.url + path)
        page.wait_for_load_state("networkidle")
    assert requests and all(url.startswith(ui.url) for url in requests), requests


def test_open_hands_the_url_to_a_browser_and_context_picks_the_kubeconfigs_context(
    sandbox: Sandbox, tmp_path: Path, page: Any
) -> None:
    """``--open`` starts $BROWSER with the URL it prints; ``--context`` is a context of the caller's
    kubeconfig other than the current one (here the current one points at nothing)."""
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    (context,) = config["contexts"]
    (cluster,) = config["clusters"]
    dead = {"name": "dead", "cluster": {**cluster["cluster"], "server": f"http://127.0.0.1:{free_port()}"}}
    config["clusters"].append(dead)
    config["contexts"].append({"name": "dead", "context": {**context["context"], "cluster": "dead"}})
    config["current-context"] = "dead"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    with UiProcess(
        "--open", "--context", context["name"], kubeconfig=kubeconfig, env={"BROWSER": f"{browser} %s"}
    ) as ui:
        wait_for(opened.exists, 15, interval=0.2, what="--open to start $BROWSER")
        assert opened.read_text().strip() == ui.url
        page.goto(ui.url)
        page.wait_for_selector("#fleet")
        assert context["name"] in page.inner_text("header .context")
        assert page.locator('#fleet tr[data-name="heartbeat"]').count() == 1


def test_the_fleet_filters_by_search_and_label(ui: UiProcess, page: Any) -> None:
    page.goto(ui.url)
    page.fill('input[name="q"]', "cleanup")
    page.click("form.filters button")
    page.wait_for_url("**q=cleanup**")
    assert page.eval_on_selector_all("#fleet tbody tr", "rows => rows.map(r => r.dataset.name)") == [
        "cleanup-eu",
        "cleanup-us",
    ]
    page.goto(ui.url + "?l=no-such-label%3Dx")
    assert "No ScheduledJobs match" in page.inner_text("main")


def _scheduled_examples() -> set[str]:
    """The names of the examples/ ScheduledJobs that have a schedule of their own."""
    names: set[str] = set()
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            spec = (doc or {}).get("spec") or {}
            if doc and doc.get("kind") == "ScheduledJob" and (spec.get("schedule") or spec.get("schedules")):
                names.add(doc["metadata"]["name"])
    return names


def test_the_timeline_shows_the_next_runs(ui: UiProcess, sandbox: Sandbox, page: Any) -> None:
    page.goto(ui.url + "timeline?hours=24")
    page.wait_for_selector("#timeline")
    lanes = page.eval_on_selector_all("g.lane", "gs => gs.map(g => [g.dataset.name, Number(g.dataset.marks)])")
    assert sorted(name for name, _ in lanes) == sorted(sandbox.applied)
    # Every example with a schedule runs at least daily; one that only runs after its upstreams
    # (spec.dependsOn without a schedule, examples/pipeline.yaml) has no upcoming start of its own.
    scheduled = _scheduled_examples()
    assert all(marks >= 1 for name, marks in lanes if name in scheduled), lanes
    assert all(marks == 0 for name, marks in lanes if name not in scheduled), lanes
    assert scheduled and scheduled <= {name for name, _ in lanes}
    # The first start listed is the one kubectl sj next prints (the same core code).
    nxt = json.loads(kubectl_sj(sandbox, "next", "hourly-report", "--count", "1", "-o", "json"))
    row = page.inner_text('#next-runs tr[data-name="hourly-report"]')
    assert nxt[0]["start"] in row, row
    # heartbeat has run (the fleet test waited for it): its recent runs are bars coloured by result.
    heartbeat = page.locator('g.lane[data-name="heartbeat"]')
    assert int(heartbeat.get_attribute("data-bars") or 0) >= 1
    assert heartbeat.locator("rect.bar.f-Succeeded").count() >= 1
    screenshot(page, "timeline")


def test_the_run_page_follows_a_running_run(ui: UiProcess, sandbox: Sandbox, page: Any) -> None:
    """heartbeat's runs take 2 s: open one while it runs; the page follows it to its end by itself."""

    job = wait_for(lambda: heartbeat_active(sandbox), 30, interval=0.2, what="a running heartbeat run")
    page.goto(ui.url + f"ns/default/sj/heartbeat/runs/{job}")
    assert page.get_attribute("#live", "data-refresh") == "2"  # following while it runs
    page.evaluate("window.__notReloaded = true")
    page.wait_for_function(
        "document.querySelector('#record') && document.querySelector('#record').innerText.includes('Succeeded')",
        timeout=20_000,
    )
    assert page.evaluate("window.__notReloaded") is True
    assert "finished with exit code 0" in page.inner_text("#log")
    assert page.get_attribute("#live", "data-refresh") is None  # finished: no more refreshing


def test_run_now_starts_a_run_that_appears_in_history(ui: UiProcess, page: Any) -> None:
    page.goto(ui.url + "ns/default/sj/hourly-report")
    page.click("#run-now")
    page.wait_for_url("**?run=**")
    # The page follows the request until the operator records the run's end (the live refresh).
    page.wait_for_selector('#outcome[data-state="finished"]', timeout=40_000)
    assert "Succeeded" in page.inner_text("#outcome")
    manual = page.locator('#history tr[data-trigger="manual"][data-result="Succeeded"]')
    assert manual.count() == 1
    job = manual.get_attribute("data-job")
    assert job and job.startswith("hourly-report-")
    assert page.locator("#durations rect").count() >= 1
    # The page's other parts: the spec summary, the operator's conditions, the job's Events.
    assert "Queue" in page.inner_text("dl.spec")  # hourly-report's concurrencyPolicy
    assert page.locator('#conditions tr:has-text("ScheduleValid")').count() == 1
    assert page.locator(f'#events tr:has-text("{job}")').count() >= 1  # its RunStarted/RunSucceeded Events
    screenshot(page, "scheduledjob")

    page.click("#outcome a")
    page.wait_for_selector("#record")
    assert job in page.inner_text("h1")
    assert "Succeeded" in page.inner_text("#record")
    assert f"name: {job}" in page.inner_text("#manifest")
    assert "PUNCTUAL_SCHEDULED_TIME=" in page.inner_text("#log")
    screenshot(page, "run")


def test_run_now_goes_through_the_concurrency_policy(ui: UiProcess, sandbox: Sandbox, page: Any) -> None:
    """heartbeat is Forbid: Run now while a run is active is skipped, and the page says so. The
    2 s run may end before the request is handled (then the run simply starts): try again."""
    outcomes = []
    for _ in range(3):
        wait_for(lambda: heartbeat_active(sandbox), 30, interval=0.2, what="a running heartbeat run")
        page.goto(ui.url + "ns/default/sj/heartbeat")
        page.click("#run-now")
        page.wait_for_selector('#outcome[data-state="not-run"], #outcome[data-state="finished"]', timeout=30_000)
        outcomes.append(page.inner_text("#outcome"))
        if page.get_attribute("#outcome", "data-state") == "not-run":
            break
    assert outcomes[-1].startswith("Run Skipped: "), outcomes
    assert "still running (concurrencyPolicy Forbid)" in outcomes[-1]
    screenshot(page, "run-now-skipped")


def heartbeat_active(sandbox: Sandbox) -> str | None:
    body = json.loads(kubectl_sj(sandbox, "get", "heartbeat", "-o", "json"))
    active = (body.get("status") or {}).get("active") or []
    return str(active[0]["name"]) if active else None


def test_a_backfill_started_on_the_page_shows_its_progress_and_is_cancelled(
    ui: UiProcess, sandbox: Sandbox, page: Any
) -> None:
    """aggregation runs */15 for 5 s: a backfill of the last three hours (12 slots, 2 at a time) is
    previewed and started from the form, its row fills in by itself, and Cancel drops its pending
    slots."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now - timedelta(minutes=1)
    last = end.replace(minute=end.minute - end.minute % 15)  # the newest slot of the range
    start = last - 11 * timedelta(minutes=15)  # 12 slots: start, ..., last
    page.goto(ui.url + "ns/default/sj/aggregation")
    # A range that ends in the future is refused by the plugin's check: a 400 page, nothing sent.
    page.fill('#backfill-form input[name="from"]', start.isoformat())
    page.fill('#backfill-form input[name="to"]', (now + timedelta(hours=1)).isoformat())
    with page.expect_navigation():
        page.click("#backfill-start")
    assert page.inner_text("#error h1").startswith("Bad request")
    assert "is in the future" in page.inner_text("#error .message")
    screenshot(page, "backfill-refused")
    page.click("#back")
    page.wait_for_selector("#backfill-form")
    assert "No backfills recorded." in page.inner_text("main")

    page.fill('#backfill-form input[name="from"]', start.isoformat())
    page.fill('#backfill-form input[name="to"]', end.isoformat())
    page.fill('#backfill-form input[name="parallel"]', "2")
    # Preview: the dry run's slots, nothing sent; its Start button sends the same range.
    page.click("#backfill-preview")
    page.wait_for_selector("#plan")
    assert page.locator("#plan tbody tr").count() == 12
    assert page.inner_text("#plan-summary").startswith(f"12 slots from {start.isoformat()} to {end.isoformat()}: ")
    assert "parallel 2; nothing requested yet" in page.inner_text("#plan-summary")
    screenshot(page, "backfill-plan")
    assert "punctual.dev/backfill-request" not in kubectl_sj(sandbox, "get", "aggregation", "-o", "yaml")
    page.click("#backfill-confirm")
    page.wait_for_url("**?backfill=**")
    token = page.get_attribute("#backfill-outcome", "data-token")
    assert token
    row = page.locator(f'#backfill-table tr[data-token="{token}"]')
    page.evaluate("window.__notReloaded = true")
    row.wait_for()  # the operator picked it up; the live refresh brought its row
    assert int(row.get_attribute("data-total") or 0) == 12
    # Two run at once; the first finish after 5 s and the row counts them (without a reload).
    wait_for(lambda: int(row.get_attribute("data-done") or 0) >= 2, 60, interval=0.5, what="two backfill runs done")
    assert page.evaluate("window.__notReloaded") is True
    assert row.get_attribute("data-state") == "Running"
    assert page.get_attribute("#backfill-outcome", "data-state") == "running"
    assert "/12 done" in row.inner_text()
    # What is typed into the form survives the page's own refresh.
    page.fill('#backfill-form input[name="from"]', "2026-01-01T00:00:00Z")
    page.locator("h1").click()  # the input loses focus: refreshes go on
    stamp = page.inner_text("#updated")
    wait_for(lambda: page.inner_text("#updated") != stamp, 15, interval=0.5, what="a live update of the page")
    assert page.input_value('#backfill-form input[name="from"]') == "2026-01-01T00:00:00Z"
    screenshot(page, "backfill-running")

    row.locator(".backfill-cancel").click()
    page.wait_for_selector(f'#backfill-table tr[data-token="{token}"][data-state="Cancelled"]', timeout=30_000)
    assert page.get_attribute("#backfill-outcome", "data-state") == "cancelled"
    assert "pending slots dropped" in page.inner_text("#backfill-outcome")
    assert row.locator(".backfill-cancel").count() == 0
    done = int(row.get_attribute("data-done") or 0)
    assert 2 <= done < 12
    # The plugin reads the same status.
    table = kubectl_sj(sandbox, "backfill", "aggregation")
    assert any(line.split()[:2] == [token, "Cancelled"] for line in table.splitlines()), table
    screenshot(page, "backfill-cancelled")


def test_suspend_shows_on_the_fleet(ui: UiProcess, page: Any) -> None:
    page.goto(ui.url + "ns/default/sj/aggregation")
    page.click("#suspend")
    page.wait_for_selector("#resume")
    assert page.inner_text("h1 .badge") == "suspended"
    page.goto(ui.url)
    row = page.locator('#fleet tr[data-name="aggregation"]')
    assert row.get_attribute("data-state") == "suspended"
    assert row.locator(".next").inner_text() == "suspended"
    screenshot(page, "fleet-suspended")
    page.goto(ui.url + "ns/default/sj/aggregation")
    page.click("#resume")
    page.wait_for_selector("#suspend")
    page.goto(ui.url)
    assert page.locator('#fleet tr[data-name="aggregation"]').get_attribute("data-state") != "suspended"


def test_not_found_is_a_page(ui: UiProcess, page: Any) -> None:
    response = page.goto(ui.url + "ns/default/sj/no-such-job")
    assert response.status == 404
    assert page.inner_text("#error h1").startswith("Not found")
    assert 'scheduledjobs.punctual.dev "no-such-job" not found' in page.inner_text("#error")
    screenshot(page, "not-found")
    assert page.goto(ui.url + "no/such/page").status == 404


def test_a_post_from_another_site_is_refused(ui: UiProcess) -> None:
    """The UI acts with the user's credentials: another origin's form must not suspend a job."""
    request = urllib.request.Request(
        ui.url + "ns/default/sj/hourly-report/suspend", data=b"", method="POST", headers={"Origin": "http://evil.test"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert "another site" in refused.value.read().decode()
    refused.value.close()
    host = urllib.request.Request(ui.url, headers={"Host": "rebound.example:80"})
    with pytest.raises(urllib.error.HTTPError) as wrong_host:
        urllib.request.urlopen(host, timeout=10)
    assert wrong_host.value.code == 421
    wrong_host.value.close()


def test_the_api_down_is_a_page(sandbox: Sandbox, tmp_path: Path, page: Any) -> None:
    dead = tmp_path / "kubeconfig"
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{free_port()}"
    dead.write_text(yaml.safe_dump(config))
    with UiProcess(kubeconfig=dead) as down:
        response = page.goto(down.url)
        assert response.status == 502
        assert "API server unreachable" in page.inner_text("#error h1")
        assert "connection refused" in page.inner_text("#error")
        screenshot(page, "api-down")
