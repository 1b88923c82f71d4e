"""The pure rules: no telegram, sqlite, sqlite_utils, jinja2 or yaml (tests/test_layers.py).

Everything here is a function of its arguments (and of data files read as plain text), so it can
be tested without a database or a Bot API and reasoned about on its own.
"""
