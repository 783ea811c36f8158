"""Pure builders of the Kubernetes objects one LoadTest run needs. Each returns a plain dict ready for
the API (camelCase keys); none performs I/O or imports a Kubernetes client."""
