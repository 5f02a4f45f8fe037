"""The run engine: one lifecycle, guard, lock and rule for every part."""
