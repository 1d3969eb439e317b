"""SQLAlchemy 2.0 typed ORM models: users, movies, ratings, events, catalogue version, seeds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import REAL, BigInteger, ForeignKey, Index, Integer, MetaData, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from recsys.db.types import GENRES_TYPE, UTCDateTime

# Stable constraint names, so migrations can refer to (and drop) them by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose metadata carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A user; demographics are known for ML-100K/1M only, so every field but the id is optional."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    gender: Mapped[str | None] = mapped_column(Text)
    age: Mapped[int | None] = mapped_column(Integer)
    occupation: Mapped[str | None] = mapped_column(Text)
    zip_code: Mapped[str | None] = mapped_column(Text)
    # The id an outside system knows the user by (the video seed's "u001"); None for MovieLens.
    external_id: Mapped[str | None] = mapped_column(Text, unique=True)


class Movie(Base):
    """A catalogue item: title without the year, release year, genre names."""

    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    year: Mapped[int | None] = mapped_column(Integer)
    genres: Mapped[list[str]] = mapped_column(GENRES_TYPE, nullable=False)
    # The id an outside system knows the movie by (the video seed's "v001"); None for MovieLens.
    external_id: Mapped[str | None] = mapped_column(Text, unique=True)
    # Set by a soft delete: never recommended or similar again; ratings and events stay.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CatalogState(Base):
    """One row (id 1): ``version`` goes up with every catalogue write, in its transaction."""

    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Rating(Base):
    """One explicit rating; a user rates a movie at most once."""

    __tablename__ = "ratings"
    __table_args__ = (Index("ix_ratings_user_id_rated_at", "user_id", "rated_at"),)

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[float] = mapped_column(REAL, nullable=False)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Event(Base):
    """One thing a user did with a movie (watch, like, complete, rating, ...), as it arrived.

    Rows are never merged: training and the per-request history sum their weights per
    (user, movie) with recsys.events' rule. A replayed ``idempotency_key`` is not stored twice.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_user_id_occurred_at", "user_id", "occurred_at"),)

    # bigint on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY (its rowid).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    movie_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("movies.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[float | None] = mapped_column(REAL)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.now()
    )
    idempotency_key: Mapped[str | None] = mapped_column(Text, unique=True)


class DatasetSeed(Base):
    """What the seed migration loaded: dataset name, content fingerprint and row counts."""

    __tablename__ = "dataset_seeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    # recsys.data.fingerprint.interactions_fingerprint of the ratings; None when nothing was seeded.
    fingerprint: Mapped[str | None] = mapped_column(Text)
    users: Mapped[int] = mapped_column(Integer, nullable=False)
    movies: Mapped[int] = mapped_column(Integer, nullable=False)
    ratings: Mapped[int] = mapped_column(Integer, nullable=False)
    seeded_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.now()
    )
