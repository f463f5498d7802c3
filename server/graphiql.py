"""GraphiQL from this server: strawberry's page, its scripts and styles served under /static/graphiql.

The page is strawberry's own (``strawberry/static/graphiql.html``) with each
CDN address replaced by the local copy in ``server/static/graphiql`` (same bytes,
so the page's ``integrity`` attributes still hold). Headers typed into
GraphiQL's header editor also travel as the websocket's ``connection_init``
payload, so ``{"Authorization": "Bearer …"}`` works for subscriptions too.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from server.strawberry_internals import get_graphql_ide_html

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET_PREFIX = "/static/graphiql/"
# CDN address in strawberry's page -> file in STATIC_DIR / "graphiql".
ASSETS = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}
EXTERNAL_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']https?://""")


@cache
def graphiql_html() -> str:
    """Strawberry's GraphiQL page loading everything from ``/static/graphiql/``.

    Raises:
        RuntimeError: the page still names an external script or style (strawberry
            changed its page; update ``ASSETS`` and the files).
    """
    html = get_graphql_ide_html("graphiql")
    for url, name in ASSETS.items():
        html = html.replace(url, ASSET_PREFIX + name)
    if EXTERNAL_ASSET.search(html):
        raise RuntimeError("strawberry's GraphiQL page loads an asset this server does not have")
    return html
