"""FHIR R4 at the edge: strict JSON, validation, OperationOutcome, search parameters, capability.

This is the only package that imports ``fhir.resources`` (through ``validation``).
"""
