"""Reading inputs: usage files (CSV, JSON Lines, Parquet) into batches of rows, the
duplicate-id pre-scan, and reference data (customers, FX rates)."""
