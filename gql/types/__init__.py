"""Strawberry types, one module per area; built from models with ``from_model()``."""
