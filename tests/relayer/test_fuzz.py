"""Property-based fuzz of the relayer's HTTP API (hypothesis): at least 1,000 generated
requests against the real app on a real chain. Whatever arrives, the relayer never answers
5xx, every refusal is JSON with an ``error`` sentence, and a refusal changes no stored state
(entries and enrollment lists); an acceptance stores exactly one entry."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from labelproof.relayer.api import asgi_app
from tests.relayer.support import Env, in_process_relay, open_task, signed_body

EXAMPLES = 250
REQUESTS_PER_EXAMPLE = 4  # 1,000 requests in all

FIELDS = ("task_id", "annotator", "root", "item_count", "version", "signature")

# Values that broke the old relayer and the oracle (issue #10) and their neighbours.
nasty_ints = st.sampled_from([0, -1, 2**32, 2**63, 2**63 - 1, 2**64, 2**255, 2**256, 10**400])
nasty_text = st.sampled_from(
    ["\ud800", "a\udfffb", "0x", "0X" + "ab" * 32, "0x" + "zz" * 32, "", " " * 100, "\x00"]
)
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | nasty_ints
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(blacklist_categories=()), max_size=80)
    | nasty_text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b'{"task_id": 1e400}',
            b'{"task_id": ' + b"9" * 90 + b"}",
            b'{"annotator": "\\ud800"}',
            b"[" * 5000,
            b'{"a": ' * 100 + b"1" + b"}" * 100,
            b"\xff\xfe\x00",
            b"null",
        ]
    ),
)


def _snapshot(relay: Any) -> tuple[Any, ...]:
    with relay.store.read() as tx:
        entries = tx.conn.execute("SELECT hash, state FROM entries ORDER BY hash").fetchall()
        enrolled = tx.conn.execute("SELECT * FROM enrollment ORDER BY task_id").fetchall()
    return tuple(tuple(r) for r in entries), tuple(tuple(r) for r in enrolled)


def test_the_relayer_api_under_fuzz(env: Env) -> None:
    relay = in_process_relay(
        env, "fuzz", rate_per_address=10_000, rate_per_task=10_000, batch_size=1_000
    )
    http = TestClient(asgi_app(relay), raise_server_exceptions=False)
    task = open_task(env)
    pool = [signed_body(env, task) for _ in range(40)]
    sent: list[int] = []

    body_strategy = st.one_of(
        # a valid body, maybe with some fields replaced, dropped, or extra ones added
        st.tuples(
            st.sampled_from(pool),
            st.dictionaries(st.sampled_from(FIELDS), anything, max_size=3),
            st.sets(st.sampled_from(FIELDS), max_size=2),
            st.dictionaries(st.text(max_size=6), anything, max_size=2),
        ).map(
            lambda t: {
                **{k: v for k, v in t[0].items() if k not in t[2]},
                **t[1],
                **t[3],
            }
        ),
        anything,
    )
    request = st.one_of(
        st.tuples(st.just("POST"), st.just("/attestations"), body_strategy, st.just(None)),
        st.tuples(st.just("POST"), st.just("/attestations"), st.none(), raw_bodies),
        st.tuples(
            st.just("GET"),
            st.text(
                st.characters(
                    min_codepoint=0x21,
                    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                    blacklist_characters="/?#%\\",
                ),
                max_size=90,
            ).map(lambda t: "/attestations/" + t),
            st.none(),
            st.none(),
        ),
        st.tuples(
            st.just("PUT"),
            st.one_of(
                st.integers(), nasty_ints, st.from_regex(r"[0-9a-zA-Z_.~-]{0,12}", fullmatch=True)
            ).map(lambda t: f"/tasks/{t}/enrollment"),
            st.one_of(
                anything,
                st.fixed_dictionaries(
                    {"annotators": st.lists(anything, max_size=3), "signature": anything}
                ),
            ),
            st.none(),
        ),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.lists(request, min_size=REQUESTS_PER_EXAMPLE, max_size=REQUESTS_PER_EXAMPLE))
    def check(requests: list[tuple[str, str, Any, bytes | None]]) -> None:
        for method, path, body, raw in requests:
            before = _snapshot(relay)
            if raw is not None:
                r = http.request(
                    method, path, content=raw, headers={"content-type": "application/json"}
                )
            elif body is None:
                r = http.request(method, path)
            else:
                try:
                    content = json.dumps(body).encode()
                except (ValueError, TypeError):
                    content = b"{}"
                r = http.request(
                    method, path, content=content, headers={"content-type": "application/json"}
                )
            sent.append(r.status_code)
            assert r.status_code < 500, (method, path, body, raw, r.text)
            after = _snapshot(relay)
            if r.status_code >= 400:
                assert isinstance(r.json()["error"], str) and r.json()["error"]
                assert after == before, (method, path, body, raw, r.text)
            elif r.status_code == 202:
                assert len(after[0]) == len(before[0]) + 1
            else:
                assert after == before

    check()
    assert len(sent) >= 1_000
    assert any(s == 202 for s in sent) and any(s == 422 for s in sent)
