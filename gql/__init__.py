"""The strawberry schema: roots, types, inputs, payloads, loaders, context and the mapping of domain errors to ``UserError``s."""
