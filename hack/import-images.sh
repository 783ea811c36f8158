#!/usr/bin/env bash
# Builds what changed and imports the images into the running local node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
"$here/build-images.sh" all
"$here/cluster-up.sh" --status || die "the local cluster is not running" "start it with hack/cluster-up.sh"
import_images
