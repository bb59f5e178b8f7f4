"""Sites (locations), stations (charge points), EVSEs and connectors."""
