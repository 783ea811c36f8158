#!/usr/bin/env bash
# Builds the images the local node runs, without a registry:
#   pause      from the Kubernetes source tree's pause.c, static, FROM scratch
#   base       Debian bookworm made by debootstrap (stands in for python:3.12-slim)
#   llmload    the project's own Dockerfile, built on that base
# Each lands as an OCI archive in the cache; cluster-up.sh imports them into
# containerd. The project image is rebuilt only when its inputs change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

images=$LLMLOAD_CACHE/images
mkdir -p "$images"
export BUILDAH_ISOLATION=chroot

build_pause() {
  [ -f "$images/pause.tar" ] && { ok "pause image cached"; return; }
  [ -f "$K8S_BIN/pause.c" ] || die "pause.c missing from $K8S_BIN" "run hack/build-kubernetes.sh first"
  step "building the pause image from pause.c"
  local tmp ctr; tmp=$(mktemp -d)
  gcc -Os -static -DVERSION="\"$K8S_VERSION-llmload\"" -o "$tmp/pause" "$K8S_BIN/pause.c" \
    || die "compiling pause.c failed" "install gcc and libc6-dev"
  strip "$tmp/pause" || true
  ctr=$(buildah from scratch)
  buildah copy "$ctr" "$tmp/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  buildah commit -q "$ctr" "$PAUSE_IMAGE" >/dev/null
  buildah rm "$ctr" >/dev/null
  buildah push -q "$PAUSE_IMAGE" "oci-archive:$images/pause.tar:$PAUSE_IMAGE"
  rm -rf "$tmp"
  ok "pause image: $PAUSE_IMAGE"
}

build_base() {
  if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then ok "base image present"; return; fi
  local rootfs=$LLMLOAD_CACHE/base-rootfs ctr mnt
  if [ ! -x "$rootfs/usr/bin/python3" ]; then
    step "debootstrap bookworm (python3, venv) for the base image (about 70 s)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$(debian_mirror)" \
      > "$LLMLOAD_CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$LLMLOAD_CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $LLMLOAD_CACHE/debootstrap.log)" "build with a registry base instead: buildah bud --build-arg BASE_IMAGE=python:3.12-slim ."; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  fi
  step "committing the base image"
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  buildah umount "$ctr" >/dev/null
  buildah config --env LANG=C.UTF-8 --cmd '["python3"]' "$ctr"
  buildah commit -q "$ctr" "$BASE_IMAGE" >/dev/null
  buildah rm "$ctr" >/dev/null
  ok "base image: $BASE_IMAGE"
}

# What goes into the project image; its hash decides whether to rebuild.
project_hash() {
  ( cd "$root" && { cat Dockerfile pyproject.toml README.md; find loadgen loadtest_operator -type f \( -name '*.py' -o -name '*.typed' -o -name '*.ini' -o -name '*.mako' \) -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16 )
}

build_project() {
  local h; h=$(project_hash)
  if [ -f "$images/llmload.tar" ] && [ "$(cat "$images/llmload.hash" 2>/dev/null)" = "$h" ]; then
    ok "project image up to date ($PROJECT_IMAGE, inputs $h)"; return
  fi
  step "building the project image from the Dockerfile ($PROJECT_IMAGE)"
  buildah bud -q --layers --network host \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -t "$PROJECT_IMAGE" "$root" > "$LLMLOAD_CACHE/image-build.log" 2>&1 \
    || { tail -n 30 "$LLMLOAD_CACHE/image-build.log" >&2; die "buildah bud failed (log: $LLMLOAD_CACHE/image-build.log)" "fix the Dockerfile, or build the image elsewhere and import it into containerd yourself"; }
  rm -f "$images/llmload.tar"
  buildah push -q "$PROJECT_IMAGE" "oci-archive:$images/llmload.tar:$PROJECT_IMAGE"
  echo "$h" > "$images/llmload.hash"
  ok "project image: $PROJECT_IMAGE (inputs $h)"
}

case "${1:-all}" in
  pause) build_pause ;;
  base) build_base ;;
  project) build_base; build_project ;;
  all) build_pause; build_base; build_project ;;
  *) die "unknown target $1" "use: pause | base | project | all" ;;
esac
