"""Requests and what happens to them: storage, delivery (outbox and spool), notify,
privacy (export, delete, retention) and support hours. Needs the tables in
:mod:`helpcenter.db`, never the engine's build or the insights wing.
"""
