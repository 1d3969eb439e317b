"""The two-stage recommender: several candidate sources, then a LightGBM LambdaRank ranker."""
