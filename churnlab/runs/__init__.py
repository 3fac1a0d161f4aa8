"""A run's record, built once for every way a run is made (compose lab, hosts)."""
