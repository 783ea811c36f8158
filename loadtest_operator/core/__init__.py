"""Shared pure pieces of both kinds: conditions, owner references, names and labels, problems, plans."""
