"""Config for the ``tortoise`` CLI (``tortoise -c tortoise_conf.TORTOISE_ORM makemigrations``)."""

import os

from models.db import tortoise_config

TORTOISE_ORM = tortoise_config(os.environ.get("CERTIFY_DATABASE_URL", "sqlite://data/makemigrations.sqlite3"))
