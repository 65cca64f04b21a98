"""The ``helpcenter`` command: thin click commands over the wings, one module per group.

- :mod:`.articles`: check, build-index, search, eval, import, setup-model (writers, the index)
- :mod:`.preview`: preview (the site on the working folder, for writers)
- :mod:`.ops`: deliver, serve
- :mod:`.reports`: report (what people search, what fails)
- :mod:`.learn`: the questions search learned from use (list, accept, block), and ``tune``
- :mod:`.privacy`: export, delete and purge personal data
- :mod:`.requests`: list, show and export the requests people sent
- :mod:`.db`: upgrade the database schema, show its revision, add a migration
- :mod:`.staff`: staff accounts for /admin (add, list, disable, reset-password)
"""

from __future__ import annotations

import click

from . import articles, db, learn, ops, preview, privacy, reports, requests, staff


@click.group()
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file (or HELPCENTER_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """helpcenter: a self-hosted help center with hybrid semantic search."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


for command in (articles.check, articles.build_index_cmd, articles.search, articles.eval_cmd, articles.import_cmd,
                articles.setup_model, preview.preview, ops.deliver, ops.serve, reports.report, privacy.privacy, requests.requests,
                db.db, staff.staff, learn.learn, learn.tune_cmd):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
