#!/usr/bin/env bash
# Build the operator's container image from the unmodified Dockerfile without Docker and without
# pulling anything from a container registry (none is reachable here; PyPI and Debian's mirror are).
#
#   1. Debian's buildah, podman, runc and debootstrap are installed when missing (apt-get).
#   2. A stand-in for each base image the Dockerfile names in FROM (python:3.11.13-slim-bookworm) is
#      made from `debootstrap --variant=minbase <suite>` plus Debian's python3 and a venv with pip in
#      /opt/venv (on PATH, like /usr/local in the official image; Debian's own python is "externally
#      managed" and refuses `pip install`), with the host's CA bundle so pip in the build reaches
#      PyPI. Its root file system is cached as a tarball keyed by its inputs:
#      $PUNCTUAL_IMAGE_CACHE/base-<key>.tar (default /var/cache/punctual-ci/image), reused when
#      present, rebuilt when absent; it is imported and tagged with exactly the FROM names.
#   3. `buildah bud` builds the Dockerfile as it is whenever the build context (what .dockerignore
#      lets through), the Dockerfile or the base changed since the image in the store was built
#      (a label records a hash of them); PUNCTUAL_IMAGE_REBUILD=1 forces it.
#
# The container store is the CI's own (.ci/storage.conf: /var/cache/punctual-ci/containers) and
# podman runs with .ci/containers.conf (runc, ulimits); use the same two variables to look at it:
#   CONTAINERS_CONF=.ci/containers.conf CONTAINERS_STORAGE_CONF=.ci/storage.conf podman images
# Idempotent; concurrent runs wait for each other. Needs root. Prints the image reference (default
# localhost/punctual:ci, or $PUNCTUAL_IMAGE) on its last line.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${PUNCTUAL_IMAGE:-localhost/punctual:ci}"
CACHE="${PUNCTUAL_IMAGE_CACHE:-/var/cache/punctual-ci/image}"
# The stand-in's recipe: these, build_base_tarball's own text and the FROM names make its cache key.
BASE_PACKAGES="python3,python3-venv"
BASE_CHANGES=(
    'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'ENV LANG=C.UTF-8'
    'CMD ["python3"]'
)
export CONTAINERS_CONF="$REPO/.ci/containers.conf"
export CONTAINERS_STORAGE_CONF="$REPO/.ci/storage.conf"

log() { printf '[image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s; }
T0="$(now)"

[[ "$(id -u)" -eq 0 ]] || die "needs root (debootstrap, and the root container store in .ci/storage.conf)"

apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# The base images of the Dockerfile: FROM names with the global ARG defaults substituted, without
# earlier stages' names and `scratch`. One per line.
from_names() {
    python3 - "$REPO/Dockerfile" <<'PY'
import re, sys
text = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
args, stages, names = {}, set(), []
seen_from = False
for line in text.splitlines():
    words = line.split()
    if not words or words[0].startswith("#"):
        continue
    op = words[0].upper()
    if op == "ARG" and not seen_from and len(words) > 1:
        key, _, value = words[1].partition("=")
        args[key] = value.strip("\"'")
    elif op == "FROM":
        seen_from = True
        rest = [w for w in words[1:] if not w.startswith("--")]
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), rest[0])
        if len(rest) >= 3 and rest[1].upper() == "AS":
            stages.add(rest[2].lower())
        if image.lower() not in stages and image != "scratch" and image not in names:
            names.append(image)
print("\n".join(names))
PY
}

# The archive of the system's apt sources for debootstrap: a "deb" entry whose suites include
# $1 (else the first plain "deb" entry, not -security/-updates), from /etc/apt/sources.list and
# /etc/apt/sources.list.d/*.sources (deb822: Types/URIs/Suites), comments ignored.
apt_mirror() {
    python3 - "$1" /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources <<'PY'
import os, re, sys
suite, paths = sys.argv[1], sys.argv[2:]
entries = []  # (uri, suites)
for path in paths:
    if not os.path.isfile(path):
        continue
    text = open(path, encoding="utf-8", errors="replace").read()
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields, key = {}, None
            for line in stanza.splitlines():
                if line.lstrip().startswith("#") or not line.strip():
                    continue
                if line[:1].isspace() and key:
                    fields[key] += " " + line.strip()
                    continue
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                entries.append((uri, fields.get("suites", "").split()))
    else:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            line = re.sub(r"\[[^\]]*\]", " ", line)  # [arch=amd64 signed-by=...]
            words = line.split()
            if len(words) >= 3 and words[0] == "deb":
                entries.append((words[1], [words[2]]))
entries = [(u.rstrip("/"), s) for u, s in entries if u.startswith(("http://", "https://"))]
exact = [u for u, s in entries if suite in s]
plain = [u for u, s in entries if any(re.fullmatch(r"[a-z]+", x) for x in s) and "security" not in u]
print((exact or plain or ["http://deb.debian.org/debian"])[0])
PY
}

# The stand-in's root file system as a tarball ($1), built in a scratch dir next to it.
build_base_tarball() {
    local out="$1" suite="$2" mirror="$3" root
    root="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$root' '$out.partial'" EXIT
    log "debootstrap --variant=minbase $suite from $mirror (+ $BASE_PACKAGES)"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$suite" "$root" "$mirror" \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    log "python3 -m venv /opt/venv (pip from Debian's python3-pip-whl)"
    chroot "$root" /usr/bin/python3 -m venv /opt/venv
    chroot "$root" /opt/venv/bin/pip --version >&2
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
        "$root"/usr/share/man "$root"/usr/share/info "$root"/var/log/*.log "$root"/tmp/*
    tar --numeric-owner --xattrs --acls -C "$root" -cf "$out.partial" .
    mv "$out.partial" "$out"
    rm -rf "$root"
    trap - EXIT
}

# A hash of the build context as the Dockerfile sees it (the files .dockerignore lets through:
# Docker's rules, the last matching pattern wins, `!` re-includes, a matched folder covers its
# files), plus the Dockerfile, .dockerignore and the base's key.
context_hash() {
    python3 - "$REPO" "$1" <<'PY'
import hashlib, os, re, sys
repo, base_key = sys.argv[1], sys.argv[2]
rules = []
try:
    lines = open(os.path.join(repo, ".dockerignore")).read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    negate = line.startswith("!")
    pattern = os.path.normpath(line.lstrip("!").strip().lstrip("/"))
    regex = ""
    for part in re.split(r"(\*\*/?|\*|\?)", pattern):
        regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    rules.append((re.compile(regex + "(/.*)?"), negate))
def ignored(rel):
    result = False
    for regex, negate in rules:
        if regex.fullmatch(rel):
            result = not negate
    return result
digest = hashlib.sha256(base_key.encode())
for name in ("Dockerfile", ".dockerignore"):
    path = os.path.join(repo, name)
    if os.path.exists(path):
        digest.update(name.encode() + b"\0" + open(path, "rb").read())
for root, dirs, files in os.walk(repo):
    dirs[:] = sorted(d for d in dirs if d != ".git")
    for name in sorted(files):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, repo)
        if not ignored(rel) and os.path.isfile(path):
            digest.update(rel.encode() + b"\0" + open(path, "rb").read() + b"\0")
print(digest.hexdigest()[:16])
PY
}

image_label() {  # image label -> value or empty
    podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true
}

apt_install buildah podman runc debootstrap ca-certificates python3
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

mapfile -t BASES < <(from_names)
((${#BASES[@]})) || die "no FROM image found in $REPO/Dockerfile"
SUITE="bookworm"
if [[ "${BASES[0]}" =~ -(bookworm|trixie|bullseye)(@|$) ]]; then SUITE="${BASH_REMATCH[1]}"; fi
ARCH="$(dpkg --print-architecture)"
KEY="$({ printf '%s\n' "$SUITE" "$ARCH" "$BASE_PACKAGES" "${BASE_CHANGES[@]}" "${BASES[@]}"
         declare -f build_base_tarball; } | sha256sum | cut -c1-16)"
TARBALL="$CACHE/base-$KEY.tar"
log "base images ${BASES[*]} -> stand-in $KEY ($SUITE, $ARCH)"

T_BASE="$(now)"
if [[ "$(image_label "${BASES[0]}" punctual.dev/ci-base)" == "$KEY" ]]; then
    log "stand-in already in the store"
else
    if [[ -s "$TARBALL" ]]; then
        log "reusing $TARBALL"
    else
        build_base_tarball "$TARBALL" "$SUITE" "$(apt_mirror "$SUITE")"
    fi
    log "podman import $TARBALL as ${BASES[0]}"
    changes=(--change "LABEL punctual.dev/ci-base=$KEY")
    for change in "${BASE_CHANGES[@]}"; do changes+=(--change "$change"); done
    podman import --quiet "${changes[@]}" "$TARBALL" "${BASES[0]}" >/dev/null
    for name in "${BASES[@]:1}"; do podman tag "${BASES[0]}" "$name"; done
fi
[[ -e "$TARBALL" ]] && touch "$TARBALL"
# Stand-ins of other recipes or Dockerfiles that no run has used for 30 days.
find "$CACHE" -maxdepth 1 -name 'base-*.tar' ! -name "base-$KEY.tar" -mtime +30 -delete
log "base ready in $(($(now) - T_BASE))s"

# The project image. Not with `--layers`: buildah 1.28 (Debian 12) leaves the content of a
# `RUN --mount=...,from=builder` out of the step's cache key, so the final stage's `pip install`
# would be reused with the previous wheels. Instead the whole build is skipped when the image was
# built from exactly this context (its label), and done from scratch (`--no-cache`) otherwise.
T_BUILD="$(now)"
CONTEXT="$(context_hash "$KEY")"
OLD_ID="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
if [[ -n "$OLD_ID" && "$(image_label "$IMAGE" punctual.dev/ci-context)" == "$CONTEXT" && -z "${PUNCTUAL_IMAGE_REBUILD:-}" ]]; then
    log "$IMAGE is already built from this work tree (context $CONTEXT)"
else
    log "buildah bud --no-cache -t $IMAGE $REPO (context $CONTEXT)"
    buildah bud --quiet --no-cache --pull=never --network host --label "punctual.dev/ci-context=$CONTEXT" \
        -t "$IMAGE" -f "$REPO/Dockerfile" "$REPO" >&2
fi
NEW_ID="$(podman image inspect --format '{{.Id}}' "$IMAGE")"
if [[ -n "$OLD_ID" && "$OLD_ID" != "$NEW_ID" ]]; then
    podman rmi "$OLD_ID" >/dev/null 2>&1 || true  # the previous build, untagged now (kept if in use)
fi
# No layer cache is kept, so untagged images (the builder stages, older stand-ins) are garbage;
# the lock above keeps this from racing another run's build.
podman image prune --force >/dev/null 2>&1 || true
SIZE="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
log "$IMAGE (${NEW_ID:0:12}, $((SIZE / 1000000)) MB) ready in $(($(now) - T_BUILD))s; total $(($(now) - T0))s"
echo "$IMAGE"
