"""turnpoint.core: the contracts, settings, algorithms and client helpers every service shares.

Services differ in their edges (serial port, Kafka, PostgreSQL, ONNX, HTTP), not in their rules;
the rules live here.
"""
