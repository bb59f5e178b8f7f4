"""Charging: station presence and status, badges, sessions (transactions), meter values, commands."""
