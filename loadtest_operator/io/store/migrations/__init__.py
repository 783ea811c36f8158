"""Alembic environment and revisions of the run store (a package so they ship in the wheel)."""
