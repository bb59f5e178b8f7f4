"""Accounts that sign in to the admin UI, API tokens, login sessions, roles."""
