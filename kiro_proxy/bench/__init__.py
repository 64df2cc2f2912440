"""`kiro-proxy bench`: gateway overhead measured against the bundled simulator.

runner (phases), processes (simulator, gateway, load-generator processes), loadgen and
http_client (the load generator), scripts (simulator replies), payloads (request bodies),
translation (in-process timing of a Claude Code-sized request), report (JSON + Markdown).
"""
