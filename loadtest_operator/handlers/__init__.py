"""kopf handler registration: thin functions that hand the body to the reconcilers."""
