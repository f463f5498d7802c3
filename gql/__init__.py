"""GraphQL wiring: settings, app and lifespan, context, loaders, types, schema, CLI."""
