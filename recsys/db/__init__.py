"""Database layer: typed ORM models, async engine/session factories, repositories, the seed."""
