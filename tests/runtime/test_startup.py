"""`punctual run` fails fast with one clear line: no cluster, no CRD, bad settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kube_emulator import Emulator
from punctual.runtime.settings import Settings, SettingsError

PUNCTUAL = [sys.executable, "-m", "punctual"]


def _run(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCTUAL_", "KUBECONFIG"))}
    base.update({"HOME": str(tmp_path), "PUNCTUAL_METRICS_PORT": "0"})
    base.pop("KUBERNETES_SERVICE_HOST", None)
    base.update(env)
    return subprocess.run([*PUNCTUAL, "run"], env=base, capture_output=True, text=True, timeout=60, check=False)


def test_no_cluster_configured(tmp_path: Path) -> None:
    result = _run({}, tmp_path)
    assert result.returncode == 1
    assert "no Kubernetes configuration: set KUBECONFIG or PUNCTUAL_KUBECONFIG" in result.stderr
    assert "Traceback" not in result.stderr


def test_cluster_unreachable(tmp_path: Path) -> None:
    with Emulator() as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    result = _run({"PUNCTUAL_KUBECONFIG": str(kubeconfig)}, tmp_path)  # the emulator is gone now
    assert result.returncode == 1
    assert "cannot reach the Kubernetes API at http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_crd_missing_names_the_install_command(tmp_path: Path) -> None:
    with Emulator() as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        result = _run({"PUNCTUAL_KUBECONFIG": str(kubeconfig)}, tmp_path)
    assert result.returncode == 1
    assert "the ScheduledJob CRD (scheduledjobs.punctual.dev) is not installed" in result.stderr
    assert "kubectl apply -f crds/scheduledjobs.punctual.dev.yaml" in result.stderr


def test_bad_setting_is_named(tmp_path: Path) -> None:
    result = _run({"PUNCTUAL_LOG_FORMAT": "xml"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: PUNCTUAL_LOG_FORMAT")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PUNCTUAL_DEFAULT_TIME_ZONE": "Mars/Olympus"}, "unknown time zone"),
        ({"PUNCTUAL_METRICS_PORT": "http"}, "PUNCTUAL_METRICS_PORT"),
        ({"PUNCTUAL_WORKERS": "0"}, "PUNCTUAL_WORKERS"),
        ({"PUNCTUAL_SHARDS": "0"}, "PUNCTUAL_SHARDS"),
        ({"PUNCTUAL_SHARDS": "257"}, r"PUNCTUAL_SHARDS: .*less than or equal to 256"),
        ({"PUNCTUAL_SHARDS": "2", "PUNCTUAL_SHARD": "2"}, r"PUNCTUAL_SHARD: .*shard 2 is not below PUNCTUAL_SHARDS"),
        ({"PUNCTUAL_SHARD": "1"}, r"PUNCTUAL_SHARD: .*not below PUNCTUAL_SHARDS \(1\)"),
        ({"PUNCTUAL_SHARD": "-1"}, "PUNCTUAL_SHARD"),
        ({"PUNCTUAL_METRICS_MAX_OBJECTS": "-1"}, "PUNCTUAL_METRICS_MAX_OBJECTS"),
        ({"PUNCTUAL_RENEW_DEADLINE": "20"}, r"PUNCTUAL_LEASE_DURATION \(15\) > PUNCTUAL_RENEW_DEADLINE \(20\)"),
        ({"PUNCTUAL_RETRY_PERIOD": "10"}, "PUNCTUAL_RETRY_PERIOD"),
        ({"PUNCTUAL_LEASE_DURATION": "1.5"}, "PUNCTUAL_LEASE_DURATION"),
    ],
)
def test_settings_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "PUNCTUAL_NAMESPACES": "a, b",
            "PUNCTUAL_LOG_FORMAT": "JSON",
            "PUNCTUAL_LEASE_NAME": "punctual-leader",
            "X": "y",
        }
    )
    assert settings.namespaces == ("a", "b")
    assert settings.log_format == "json"
    assert settings.lease_name == "punctual-leader"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (15, 10, 2), "client-go's"
    assert Settings.from_env({}).lease_name == "", "no Lease: a lone process leads"
    short = Settings.from_env(
        {"PUNCTUAL_LEASE_DURATION": "3", "PUNCTUAL_RENEW_DEADLINE": "2", "PUNCTUAL_RETRY_PERIOD": "0.5"}
    )
    assert (short.lease_duration, short.renew_deadline, short.retry_period) == (3, 2, 0.5)
    assert Settings.from_env({}).namespaces == ()
    assert (Settings.from_env({}).shards, Settings.from_env({}).shard) == (1, 0)
    sharded = Settings.from_env({"PUNCTUAL_SHARDS": "4", "PUNCTUAL_SHARD": "3"})
    assert (sharded.shards, sharded.shard) == (4, 3)
    assert Settings.from_env({}).metrics_max_objects is None
    assert Settings.from_env({"PUNCTUAL_METRICS_MAX_OBJECTS": "500"}).metrics_max_objects == 500


def test_busy_metrics_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    from punctual_testing import load_crd

    with Emulator() as emulator, socket.create_server(("127.0.0.1", 0)) as busy:
        emulator.install_crd(load_crd())
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        port = busy.getsockname()[1]
        result = _run(
            {
                "PUNCTUAL_KUBECONFIG": str(kubeconfig),
                "PUNCTUAL_METRICS_HOST": "127.0.0.1",
                "PUNCTUAL_METRICS_PORT": str(port),
                "PUNCTUAL_LOG_FORMAT": "text",
            },
            tmp_path,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot serve metrics and health on 127.0.0.1:{port} (PUNCTUAL_METRICS_PORT): "
        "address already in use; is another operator running on this port?"
    ], result.stderr
