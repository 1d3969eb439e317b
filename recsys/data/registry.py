"""The datasets ``recsys data fetch`` knows: GroupLens URLs with pinned archive checksums.

SHA-256 and sizes are the values TensorFlow Datasets pins for the same GroupLens URLs
(``url_checksums/movielens.txt``; ml-32m's from several independent pins of the same archive);
the MD5s are the ones GroupLens publishes beside each zip (``NAME.zip.md5``) and agree with them.
``ml-latest-small`` is re-released from time to time: the pin is the 2018 release (978,202 bytes),
so a newer archive is refused until the pin is updated (or ``--no-verify`` is given).
"""

from __future__ import annotations

from dataclasses import dataclass

GROUPLENS_BASE = "https://files.grouplens.org/datasets/movielens/"


@dataclass(frozen=True)
class RemoteDataset:
    """One downloadable MovieLens release and the checksums its archive must have."""

    name: str
    sha256: str
    size: int
    md5: str | None
    description: str

    @property
    def url(self) -> str:
        """Where GroupLens serves the archive."""
        return f"{GROUPLENS_BASE}{self.name}.zip"


REGISTRY: dict[str, RemoteDataset] = {
    d.name: d
    for d in (
        RemoteDataset(
            "ml-100k",
            "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            4_924_029,
            "0e33842e24a9c977be4e0107933c0723",
            "100,000 ratings, 943 users, 1,682 movies (1998)",
        ),
        RemoteDataset(
            "ml-1m",
            "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            5_917_549,
            "c4d9eecfca2ab87c1945afe126590906",
            "1,000,209 ratings, 6,040 users, 3,706 movies (2003)",
        ),
        RemoteDataset(
            "ml-latest-small",
            "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            978_202,
            None,
            "100,836 ratings, 610 users, 9,742 movies (2018 release)",
        ),
        RemoteDataset(
            "ml-20m",
            "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
            198_702_078,
            "cd245b17a1ae2cc31bb14903e1204af3",
            "20,000,263 ratings, 138,493 users, 27,278 movies (2015)",
        ),
        RemoteDataset(
            "ml-25m",
            "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
            261_978_986,
            "6b51fb2759a8657d3bfcbfc42b592ada",
            "25,000,095 ratings, 162,541 users, 62,423 movies (2019)",
        ),
        RemoteDataset(
            "ml-32m",
            "e4a68655d7386b8f95f2f2424b2ff975dfdd15ffd59e0d864a14dca43e99d6ee",
            238_950_008,
            "d472be332d4daa821edc399621853b57",
            "32,000,204 ratings, 200,948 users, 87,585 movies (2023)",
        ),
    )
}

# The offline copy of ML-100K: RecBole's wheel ships it as atomic files. Fetched through the
# package index pip/uv are configured with (the only network these machines reach).
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_ML100K_MEMBERS = tuple(
    f"recbole/dataset_example/ml-100k/ml-100k.{suffix}" for suffix in ("inter", "item", "user")
)
