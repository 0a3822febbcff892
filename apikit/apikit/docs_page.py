"""A self-contained HTML page rendered from the OpenAPI document: readable offline, no scripts."""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.m{font-weight:700;text-transform:uppercase;margin-right:.5rem}
code,pre{background:#f6f6f6;border-radius:4px;padding:.1rem .3rem}
pre{padding:.6rem;overflow-x:auto}
table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}
"""


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'required' if p.get('required') else ''}</td>"
        f"<td>{escape(p.get('description', ''))}</td></tr>"
        for p in op.get("parameters", [])
    )
    body = ""
    if request := op.get("requestBody"):
        media, content = next(iter(request["content"].items()))
        schema_name = content["schema"]["$ref"].rsplit("/", 1)[-1]
        body = f"<p>Body ({escape(media)}): <code>{escape(schema_name)}</code></p>"
    responses = "".join(
        f"<tr><td>{escape(status)}</td><td>{escape(r['description'])}</td>"
        f"<td>{escape(', '.join(r.get('content', {})))}</td></tr>"
        for status, r in op["responses"].items()
    )
    return (
        f"<div class='op' id='{escape(op['operationId'])}'>"
        f"<p><span class='m'>{escape(method)}</span><code>{escape(path)}</code> — {escape(op['summary'])}</p>"
        f"<p>{escape(op.get('description', '')).replace(chr(10), '<br>')}</p>"
        + (f"<table><tr><th>parameter</th><th>in</th><th></th><th></th></tr>{rows}</table>" if rows else "")
        + body
        + f"<table><tr><th>status</th><th>meaning</th><th>media type</th></tr>{responses}</table></div>"
    )


def render_docs(document: dict[str, Any]) -> str:
    info = document["info"]
    operations = "".join(
        _operation(method, path, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    )
    schemas = "".join(
        f"<h3 id='schema-{escape(name)}'>{escape(name)}</h3><pre>{escape(json.dumps(schema, indent=2))}</pre>"
        for name, schema in document["components"]["schemas"].items()
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(info['title'])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} <small>{escape(info['version'])}</small></h1>"
        f"<p>{escape(info['description'])}</p>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>"
        f"<h2>Operations</h2>{operations}<h2>Schemas</h2>{schemas}</body></html>"
    )
