"""Dramatiq actors and the clock. `dramatiq workers.actors` runs the actors."""
