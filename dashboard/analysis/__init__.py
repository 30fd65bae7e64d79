"""Analysis core of the screen: hotspots, camera coverage, meeting-mode rankings and exports.

Read-side functions that take a (read-only) psycopg2 connection and return plain, JSON-ready
rows, so the dashboard pages and the CLI can call them. All SQL lives in ``analysis.sql``.
"""
