"""Which library fits a model (``recsys train --engine``); no imports: the CLI reads it at once."""

from __future__ import annotations

from typing import Literal

Engine = Literal["implicit", "spark"]
# "implicit": in this process (implicit, numpy, LightGBM, ...), every model type.
# "spark": pyspark.ml's ALS on a Spark master, stored as an ordinary als version.
ENGINES: tuple[Engine, ...] = ("implicit", "spark")
SPARK_MODEL_TYPES = ("als",)


def check_engine(engine: str, model_type: str) -> Engine:
    """``engine`` if it can fit ``model_type``, else a ``ValueError`` naming the choices."""
    if engine not in ENGINES:
        raise ValueError(f"{engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "spark" and model_type not in SPARK_MODEL_TYPES:
        raise ValueError(
            f"spark fits {', '.join(SPARK_MODEL_TYPES)} only, not {model_type!r}; "
            "the other model types train with --engine implicit (the default)"
        )
    return "spark" if engine == "spark" else "implicit"
