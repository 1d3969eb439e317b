"""Every SQL query of the service lives here; each repository wraps one ``AsyncSession``."""

from recsys.db.repositories.catalog import (
    CatalogRepository,
    CatalogRow,
    ExternalIdTakenError,
    ImportCounts,
    ImportRow,
    MovieFields,
)
from recsys.db.repositories.events import EventRepository, NewEvent
from recsys.db.repositories.movies import MovieRecord, MovieRepository
from recsys.db.repositories.ratings import RatingRecord, RatingRepository
from recsys.db.repositories.seeds import DatasetSeedRecord, DatasetSeedRepository
from recsys.db.repositories.users import RatedMovies, UserRepository

__all__ = [
    "CatalogRepository",
    "CatalogRow",
    "ExternalIdTakenError",
    "ImportCounts",
    "ImportRow",
    "MovieFields",
    "DatasetSeedRecord",
    "DatasetSeedRepository",
    "EventRepository",
    "MovieRecord",
    "MovieRepository",
    "NewEvent",
    "RatedMovies",
    "RatingRecord",
    "RatingRepository",
    "UserRepository",
]
