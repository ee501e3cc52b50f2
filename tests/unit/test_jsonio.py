import pytest

from sicdoc.errors import InvalidInput
from sicdoc.fhir import jsonio


def test_parses_plain_json():
    assert jsonio.loads(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"a": 1, "a": 2}', "Duplicate JSON key 'a'"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[" * 100 + b"]" * 100, "deeper than 64"),
        (b"[" * 50000 + b"]" * 50000, "deeper than"),
    ],
)
def test_rejects_what_fhir_json_forbids(body, fragment):
    with pytest.raises(InvalidInput) as err:
        jsonio.loads(body)
    assert fragment in str(err.value)
