"""Settlement: exact sums per line key -> lines, VAT, FX, retained revenue,
models (commitments, discounts, waterfalls, splits, withholding), conservation and traces."""
