"""Background work off the request path: e-mail outbox delivery and certificate rendering."""
