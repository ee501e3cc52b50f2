"""FHIR R4 at the edge: strict JSON, validation, OperationOutcome, search parameters, capability.

This is the only package that imports ``fhir.resources`` (through ``validation``).
"""

from fhir_core.fhirabstractmodel import FHIRAbstractModel

# The models are read for their fields (``structure``), and validate only in the reference check
# the tests run: pydantic builds a model's validator when one is first used, not when its class is
# made. That halves what the models hold (45 -> 23 MB in every process that writes) and the time to
# the first write. Set here, before any submodule imports a model class.
FHIRAbstractModel.set_global_model_config(defer_build=True)
