"""A loopback stand-in for the delivery providers, for end-to-end tests, benchmarks and `make run`.

It speaks the providers' HTTP APIs (e-mail, SMS, ntfy-style push), records
what it accepts so tests in another process can read it back, and injects the
latency and faults real providers produce. It never runs in production.
"""
