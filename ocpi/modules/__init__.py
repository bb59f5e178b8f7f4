"""OCPI modules of the CPO role."""
