"""Alembic migrations of the schema in :mod:`helpcenter.db`, shipped inside the package.

:mod:`helpcenter.support.migrate` runs them (``helpcenter db upgrade``, web start-up);
``versions/0001_baseline.py`` is the schema of release 0.1.0, the first one with data to keep.
"""
