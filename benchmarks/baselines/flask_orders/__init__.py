"""The usual way to build `POST /orders`: Flask, Flask-SQLAlchemy, and the provider called inline.

Sync ORM on SQLite or PostgreSQL (psycopg), the SMS/e-mail provider called with
`requests` before answering, gunicorn with one sync worker per core. It is the
baseline `benchmarks/orders_vs_inline.py` puts our outbox design beside: here a
slow provider holds a worker for its whole latency.
"""
