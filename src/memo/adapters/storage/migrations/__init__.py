"""Alembic migrations of Memo's SQL schema, shipped inside the package so `memo db upgrade` finds them anywhere."""
