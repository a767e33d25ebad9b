"""Studies: sweeps of runs trained alike, their results table and their plots."""
