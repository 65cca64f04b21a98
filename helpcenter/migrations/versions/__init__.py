"""One module per schema change, applied in order by Alembic (see README "Upgrades and migrations")."""
