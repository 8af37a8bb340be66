"""Rating: rows -> exact, mergeable sums per line key. The engine (reference path),
its fast paths, the rating closures, tiers, periods and the accumulated sums."""
