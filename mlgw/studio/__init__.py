"""`mlgw studio`: a local web UI over the workflow's AWS APIs — pipelines and their step graph,
model registry, endpoints, monitoring and Feature Store — against localcloud or AWS.

app.py (ASGI app, errors, cross-site protection), pages.py (routes), backend.py (boto3 reads and
actions), graph.py (definition → laid-out graph), charts.py (matplotlib SVG),
monitoring_view.py, server.py (uvicorn), templates/ and static/ (served by the app itself).
"""
