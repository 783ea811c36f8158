"""Pure analysis for the operator: validation, conditions, target resolution, result summaries.

Nothing here performs I/O or imports kopf, kubernetes, sqlmodel or httpx; callers pass plain data in.
"""
