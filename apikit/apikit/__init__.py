"""HTTP conventions shared by the orders service and the notification gateway.

Both services speak the same dialect: RFC 9457 problems, bearer tokens with
roles, `X-Request-ID`, `Idempotency-Key`, an OpenAPI document built from the
route table, health probes and Prometheus metrics. Keeping that dialect in one
place keeps the two services consistent without sharing any runtime state.
"""
