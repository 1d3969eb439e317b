"""The application layer: the one door through which the API and the CLI reach everything else.

This ``__init__`` imports nothing, so that a command's ``--help`` stays cheap: import from the
modules themselves.
"""
