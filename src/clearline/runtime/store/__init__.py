"""The run folder: lines, rated records, rejects, traces and the manifest, written atomically."""
