"""Model cards refuse unknown schema versions, corrupt weights and mismatched shapes."""

from __future__ import annotations

import json

import pytest
import torch

from flashsim_coffea.sim import cards


@pytest.fixture
def saved(tmp_path):
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(3)}
    path = cards.save(tmp_path, "eff", state, {"kind": "efficiency", "conditioning": ["pt"]})
    return path, state


def test_round_trip(saved):
    path, state = saved
    c, tensors = cards.load(path)
    assert c["kind"] == "efficiency" and c["schema_version"] == cards.SCHEMA_VERSION
    assert torch.equal(tensors["w"], state["w"]) and torch.equal(tensors["b"], state["b"])
    assert c["weights"]["shapes"] == {"b": [3], "w": [2, 3]}


def test_unknown_schema_version(saved):
    path, _ = saved
    c = json.loads(path.read_text())
    c["schema_version"] = 99
    path.write_text(json.dumps(c))
    with pytest.raises(cards.ModelCardError, match=r"eff.json: model card schema version 99 is not supported"):
        cards.load(path)


def test_corrupt_weights(saved):
    path, _ = saved
    weights = path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(cards.ModelCardError, match=r"eff.safetensors: sha256 .* does not match"):
        cards.load(path)


def test_shapes_must_match_the_card(saved):
    path, _ = saved
    c = json.loads(path.read_text())
    c["weights"]["shapes"]["w"] = [3, 2]
    path.write_text(json.dumps(c))
    with pytest.raises(cards.ModelCardError, match=r"tensor w has shape \[2, 3\], the card says \[3, 2\]"):
        cards.load(path)


def test_garbage_file_with_matching_hash_is_refused(saved):
    path, _ = saved
    weights = path.with_suffix(".safetensors")
    weights.write_bytes(b"not a safetensors file at all")
    c = json.loads(path.read_text())
    c["weights"]["sha256"] = cards.sha256(weights)
    path.write_text(json.dumps(c))
    with pytest.raises(cards.ModelCardError, match="not a valid safetensors file"):
        cards.load(path)
