"""Runtime stage: a settlement plan run over usage records -> lines, traces, run folder."""
