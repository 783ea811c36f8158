"""The only I/O of the operator: the Kubernetes API, Prometheus, the SQL store, the operator's metrics."""
