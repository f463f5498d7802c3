"""Adapters to the outside: file storage and SMTP."""
