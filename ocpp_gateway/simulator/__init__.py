"""Virtual charging stations (OCPP 1.6 and 2.0.1) with EVs, for tests, benchmarks and the demo."""
