"""Roaming partners (eMSPs and hubs over OCPI): who they are, the tokens between us, and their drivers' tokens."""
