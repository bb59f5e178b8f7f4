"""OCPP 1.6J and 2.0.1 websocket gateway for charging stations (the /ocpp/{identity} endpoint)."""
