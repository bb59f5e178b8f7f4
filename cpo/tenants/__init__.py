"""Tenants: the operator organisations every row belongs to."""
