"""Relational storage: ORM models, engine set-up and migrations."""
