"""Durable storage: TinyDB tables kept in memory, persisted through an append-only journal."""
