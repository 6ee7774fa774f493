"""Parley's user interfaces; each one implements ``frontends.base.Frontend`` over the engine."""
