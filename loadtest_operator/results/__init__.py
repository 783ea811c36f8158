"""The results service: the run history in the SQL store read back over HTTP (history, compare,
leaderboard, export, purge), each request authorized by the caller's own Kubernetes identity
(TokenReview, then SubjectAccessReview). docs/results.md.

Pure pieces (figures, noise, compare, leaderboard, query, export) import nothing but the standard
library and the API models; app.py wires them to the store (io/store) and the API server (io/identity.py,
io/access.py). FastAPI is imported in this package only (.importlinter).
"""
