"""Run the dashboard for browser tests: ``python serve_app.py PORT [INTERVAL_MS]``.

The database comes from DATABASE_URL (the test session's, or a throwaway one).
"""

from __future__ import annotations

import sys

from dashboard.app import create_app

if __name__ == "__main__":
    port = int(sys.argv[1])
    interval = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    create_app(interval_ms=interval).run(host="127.0.0.1", port=port, debug=False)
