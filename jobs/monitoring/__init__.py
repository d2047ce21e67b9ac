"""Monitoring: per-schedule health, metrics and live change feeds (pure rules + thin adapters)."""
