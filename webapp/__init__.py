"""Beatkeeper's web front end: a FastAPI JSON API at /api and a Flask UI at /, one ASGI app."""
