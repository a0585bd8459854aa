"""Data rules D301-D307: they read the cohort and split tables (pandas imported lazily)."""
