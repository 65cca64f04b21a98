"""WSGI entry point for production servers: ``gunicorn helpcenter.web.wsgi:app``.

Each worker loads the model and index before it accepts requests.
"""

from . import create_app

app = create_app()
app.extensions["hc_searcher"].warm_up()
