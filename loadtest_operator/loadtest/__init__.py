"""LoadTest, decided purely: validation, target resolution, shard states, results, the plan and the
builders of a run's objects. No kopf, Kubernetes client, Prometheus client or SQL here."""
