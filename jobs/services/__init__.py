"""What the API, the UI and the CLI call.

Job rules (validate, route, enqueue) and schedule management live here, so the beat and the
CLI use them without reaching into `webapp`.
"""
