"""``copy_json`` (the Job manifest's copy of the user's template) is a deep copy of decoded JSON."""

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from punctual.bodies import copy_json

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)


def _containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(c for v in value.values() for c in _containers(v))]
    if isinstance(value, list):
        return [value, *(c for v in value for c in _containers(v))]
    return []


@given(_json)
def test_the_copy_equals_a_deep_copy_and_shares_no_dict_or_list(value: Any) -> None:
    copied = copy_json(value)
    assert copied == copy.deepcopy(value)
    originals = {id(c) for c in _containers(value)}
    assert not originals & {id(c) for c in _containers(copied)}


def test_changing_the_copy_leaves_the_original_alone() -> None:
    template = {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]}}
    copied = copy_json(template)
    copied["spec"]["containers"][0]["env"].append({"name": "B", "value": "2"})
    copied["spec"]["containers"][0]["name"] = "d"
    assert template == {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]}}
