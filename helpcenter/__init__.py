"""helpcenter: a self-hosted, Chinese-first help center with hybrid semantic search.

The package has wings, each with one concern; data flows one way, down this list:

- :mod:`helpcenter.engine`: articles -> passages -> (tokens, vectors) -> index -> searcher
- :mod:`helpcenter.support`: requests and what happens to them (storage, delivery, privacy)
- :mod:`helpcenter.insights`: what people search and where search fails
- :mod:`helpcenter.web`: the Flask app factory and its blueprints
- :mod:`helpcenter.cli`: thin click commands

Below them all: :mod:`.config` (settings), :mod:`.db` (the tables), :mod:`.instance`
(where data lives) and :mod:`.fsutil`. The engine never imports Flask or the database;
support never imports insights; the web layer never imports the build.
"""
