"""Models and their artifacts; nothing here imports the database, the service or FastAPI.

This package's ``__init__`` imports nothing: ``recsys.modeling.registry`` must stay cheap to
import (the CLI's help lists model types), so import from the modules themselves.
"""
