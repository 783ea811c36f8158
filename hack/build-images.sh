#!/usr/bin/env bash
# Builds the images the local node runs, without a registry:
#   pause      from the Kubernetes source tree's pause.c, static, FROM scratch
#   base       Debian bookworm made by debootstrap (stands in for python:3.12-slim)
#   llmload       the project's own Dockerfile (target product), built on that base
#   llmload-mock  the same Dockerfile's mockservers target: the product plus the test servers
# Each lands as an OCI archive in the cache; cluster-up.sh imports them into
# containerd. The two Dockerfile images are rebuilt only when their inputs change.
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
  ( cd "$root" && { cat Dockerfile pyproject.toml README.md; find loadgen loadtest_operator -type f \( -name '*.py' -o -name '*.typed' -o -name '*.ini' -o -name '*.mako' -o -path '*/web/static/*' \) -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16 )
}

# The mock image is the project image plus mockservers/: both decide whether to rebuild it.
mock_hash() {
  ( cd "$root" && { project_hash; cat mockservers/pyproject.toml; find mockservers -type f \( -name '*.py' -o -name '*.typed' \) -not -path '*/build/*' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16 )
}

# build_target NAME TARGET IMAGE HASH: the Dockerfile's stage TARGET as IMAGE, archived as NAME.tar
# (with NAME.hash) in the cache, unless the archive was built from the same inputs.
build_target() {
  local name=$1 target=$2 image=$3 h=$4
  if [ -f "$images/$name.tar" ] && [ "$(cat "$images/$name.hash" 2>/dev/null)" = "$h" ]; then
    ok "$name image up to date ($image, inputs $h)"; return
  fi
  step "building the $name image from the Dockerfile, target $target ($image)"
  buildah bud -q --layers --network host --target "$target" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -t "$image" "$root" > "$LLMLOAD_CACHE/image-build-$name.log" 2>&1 \
    || { tail -n 30 "$LLMLOAD_CACHE/image-build-$name.log" >&2; die "buildah bud --target $target failed (log: $LLMLOAD_CACHE/image-build-$name.log)" "fix the Dockerfile, or build the image elsewhere and import it into containerd yourself"; }
  rm -f "$images/$name.tar"
  buildah push -q "$image" "oci-archive:$images/$name.tar:$image"
  echo "$h" > "$images/$name.hash"
  ok "$name image: $image (inputs $h)"
}

build_project() { build_target llmload product "$PROJECT_IMAGE" "$(project_hash)"; }
build_mock() { build_target llmload-mock mockservers "$MOCK_IMAGE" "$(mock_hash)"; }

case "${1:-all}" in
  pause) build_pause ;;
  base) build_base ;;
  project) build_base; build_project ;;
  mock) build_base; build_project; build_mock ;;
  all) build_pause; build_base; build_project; build_mock ;;
  *) die "unknown target $1" "use: pause | base | project | mock | all" ;;
esac
