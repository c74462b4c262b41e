"""Hypothesis: no message from the agent's own user stops it, confuses it, or makes it hand out a key (item 10)."""

from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmstui.backends.local import agent
from kmstui.config import Paths

KEY = os.urandom(32)

scalars = (st.none() | st.booleans() | st.integers(min_value=-(10 ** 400), max_value=10 ** 400)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=50))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=20)
requests = st.fixed_dictionaries({"op": st.sampled_from(["put", "get", "forget", "status", "nope"]) | scalars},
                                 optional={"id": scalars | st.just("file-a"), "key": scalars,
                                           "ttl": scalars | st.integers(0, 10 ** 30)})


def encode(doc) -> bytes:
    """JSON as a peer might send it (Python writes Infinity/NaN; big integers stay exact)."""
    return json.dumps(doc, allow_nan=True).encode() + b"\n"


def send(runtime_dir, payload: bytes) -> bytes:
    return agent.exchange(agent.socket_path(runtime_dir), payload, timeout=5)


@pytest.fixture
def running_agent():
    runtime_dir = Paths.discover().runtime_dir
    agent.put_key(runtime_dir, "file-a", KEY, 600)
    yield runtime_dir
    agent.stop(runtime_dir)


def test_random_messages_never_stop_the_agent(running_agent, slow_mode):
    runtime_dir = running_agent
    tried = []

    @settings(max_examples=2000 if slow_mode else 150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(doc=documents | requests, raw=st.binary(max_size=200), use_raw=st.booleans())
    def run(doc, raw, use_raw):
        payload = raw + b"\n" if use_raw else encode(doc)
        tried.append(payload)
        reply = send(runtime_dir, payload)
        if reply:
            parsed = json.loads(reply)
            assert isinstance(parsed, dict) and "ok" in parsed
            if parsed.get("key") is not None:  # only a get of the one id that was put hands out a key
                assert isinstance(doc, dict) and doc.get("op") == "get" and doc.get("id") == "file-a"
            if isinstance(doc, dict) and doc.get("op") == "put" and parsed.get("ok"):
                ttl = doc.get("ttl", agent.DEFAULT_TTL)
                assert type(ttl) is int and 1 <= ttl <= agent.MAX_TTL and not math.isinf(ttl)
            if use_raw is False and isinstance(doc, dict) and doc.get("op") in ("put", "forget") and parsed.get("ok"):
                agent.put_key(runtime_dir, "file-a", KEY, 600)  # a valid put or forget of it: put it back
        assert agent.get_key(runtime_dir, "file-a") == KEY

    run()
    assert len(tried) >= 100
    entries = agent.status(runtime_dir)["entries"]
    assert all(0 < ttl <= agent.MAX_TTL for ttl in entries.values())
