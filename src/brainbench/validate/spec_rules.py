"""Spec rules L101-L106 and S201-S206: they read only the spec."""
