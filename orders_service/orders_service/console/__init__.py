"""The staff console: server-rendered pages under `/console/`, on the same domain code as the API."""
