"""Names that identify the LoadTest resource in the Kubernetes API."""

GROUP = "llmload.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "LoadTest"
PLURAL = "loadtests"
SINGULAR = "loadtest"
SHORT_NAMES = ("lt",)
CATEGORIES = ("llmload",)
