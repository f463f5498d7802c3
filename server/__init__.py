"""The HTTP and websocket server: the ASGI app and lifespan, routes, limits, uploads, files, pages, websocket protocols and shared streams, settings, auth, the CLI."""
