"""marshmallow schemas for the JSON sicdoc reads and writes that is not FHIR.

Files and request input are loaded (unknown fields are refused and every problem names its field);
answers are dumped. The OpenAPI description of the JSON endpoints (``openapi.py``) is generated
from the same classes, so the description and the answers cannot drift apart.
"""

from sicdoc.schemas.base import Invalid, check, problems

__all__ = ["Invalid", "check", "problems"]
