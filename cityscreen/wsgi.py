"""The server's composition root: the Dash app plus the ETL ingest blueprint, in one place.

``gunicorn -w 4 -b 127.0.0.1:8050 cityscreen.wsgi:server`` serves it in production.
"""

from __future__ import annotations

from cityscreen.security import apply_security_headers
from dashboard.app import create_app
from etl.api import ingest_blueprint

app = create_app()
app.server.register_blueprint(ingest_blueprint())
server = apply_security_headers(app)
