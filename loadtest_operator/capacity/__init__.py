"""CapacityRecommendation logic, pure: validation, the level search, the recommendation maths, the
fromPrometheus derivation, the deployment facts and the child-LoadTest builder. No kopf, Kubernetes
client, HTTP or SQL here; `plan.py` is the one entry point a handler calls per reconcile."""
