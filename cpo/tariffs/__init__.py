"""Tariffs, prices and CDRs: the OCPI tariff model, an exact pricing engine, session classes and cost allocation."""
