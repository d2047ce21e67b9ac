"""The pure schedule domain: definitions, triggers and their DST rules, catch-up, jitter.

Nothing here does I/O: the store, the services and the beat build on these modules.
"""
