"""Observe, plan, execute: each kind's observer reads what its pure plan needs, and one executor acts on
any kind's plan."""
