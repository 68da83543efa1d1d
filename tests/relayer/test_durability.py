"""Nothing the relayer accepted is lost: kill -9 at every stage, SIGTERM with a full queue.

Each test runs the real relayer process against its own anvil. An attestation answered 202 must
end on chain exactly once (one ``Attested`` event) after a restart, without the annotator
sending it again.
"""

from __future__ import annotations

import signal

import httpx
import pytest

from labelproof.relayer.service import CRASH_POINTS
from tests.relayer.support import (
    Env,
    RelayerProcess,
    attested_events,
    digest_of,
    open_task,
    signed_body,
)


def _post_all(relayer: RelayerProcess, bodies: list[dict]) -> list[str]:
    """Post every body; the digests of those answered 202/200 (the process may die meanwhile)."""
    accepted = []
    for body in bodies:
        try:
            r = relayer.post(body)
        except httpx.TransportError:
            continue
        if r.status_code in (200, 202):
            accepted.append(r.json()["hash"])
    return accepted


def _exactly_once(env: Env, task_id: int, bodies: list[dict]) -> None:
    events = attested_events(env, task_id)
    by_annotator: dict[str, int] = {}
    for ev in events:
        by_annotator[ev["args"]["annotator"]] = by_annotator.get(ev["args"]["annotator"], 0) + 1
    assert by_annotator == {b["annotator"]: 1 for b in bodies}


def test_kill9_with_a_full_queue_loses_nothing(env: Env) -> None:
    """Issue #10: kill -9 lost 20 of 20 queued attestations. Now all 20 land after a restart."""
    task = open_task(env)
    relayer = RelayerProcess(env, "kill-queue", **{"max-wait": 3600})
    bodies = [signed_body(env, task) for _ in range(20)]
    try:
        relayer.start()
        accepted = _post_all(relayer, bodies)
        assert len(accepted) == 20
        assert relayer.state(accepted[0])["status"] == "queued"
        relayer.kill9()
        assert relayer.rows("SELECT COUNT(*) FROM entries WHERE state = 'queued'") == [(20,)]
        relayer.start(**{"max-wait": 0.2})
        relayer.wait_for("all 20 confirmed", lambda: relayer.all_confirmed(accepted))
        _exactly_once(env, task, bodies)
    finally:
        relayer.stop()


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill9_at_every_stage_loses_nothing_and_sends_once(env: Env, point: str) -> None:
    """SIGKILL at intake (after the entry is stored, before the 202), after batching, after
    signing, after broadcasting and after the batch was mined but before it was recorded: after
    a restart every accepted attestation is confirmed, exactly once on chain, and the relayer
    sent no more transactions than it mined batches."""
    task = open_task(env)
    # The batch forms when all five are queued (not on a timer), so the crash comes after
    # every POST was answered, however slow the machine.
    relayer = RelayerProcess(env, f"kill-{point}", **{"batch-size": 5, "max-wait": 3600})
    bodies = [signed_body(env, task) for _ in range(5)]
    try:
        relayer.start(crash_at=point)
        accepted = _post_all(relayer, bodies)
        assert relayer.wait_exit(timeout=30) == -signal.SIGKILL
        stored = relayer.rows("SELECT hash FROM entries")
        if point == "after_intake":
            # The first request died after its entry was committed and before any answer.
            assert accepted == [] and stored == [(digest_of(env, bodies[0]),)]
        else:
            assert set(accepted) == {h for (h,) in stored} and len(accepted) == 5
        relayer.start(**{"max-wait": 0.2})
        # Only what was never accepted is sent again (an annotator whose POST got no answer).
        digests = [digest_of(env, b) for b in bodies]
        stored_now = {h for (h,) in relayer.rows("SELECT hash FROM entries")}
        for body, digest in zip(bodies, digests, strict=True):
            if digest not in stored_now:
                assert relayer.post(body).status_code == 202
        relayer.wait_for("all confirmed", lambda: relayer.all_confirmed(digests))
        _exactly_once(env, task, bodies)
        mined = relayer.rows("SELECT COUNT(*) FROM batches WHERE state = 'mined'")[0][0]
        sent = env.w3.eth.get_transaction_count(relayer.key.address)
        assert sent == mined
    finally:
        relayer.stop()


def test_sigterm_flushes_the_queue_before_exiting(env: Env) -> None:
    """Issue #10: SIGTERM lost 20 of 20 (uvicorn re-raised the signal before the final flush).
    Now the lifespan shutdown sends the queue as a last batch before the process exits."""
    task = open_task(env)
    relayer = RelayerProcess(env, "sigterm", **{"max-wait": 3600})
    bodies = [signed_body(env, task) for _ in range(20)]
    try:
        relayer.start()
        accepted = _post_all(relayer, bodies)
        assert len(accepted) == 20
        assert relayer.proc is not None
        relayer.proc.send_signal(signal.SIGTERM)
        assert relayer.wait_exit(timeout=30) in (0, -signal.SIGTERM)
        _exactly_once(env, task, bodies)
        assert relayer.rows("SELECT state, COUNT(*) FROM entries GROUP BY state") == [
            ("confirmed", 20)
        ]
    finally:
        relayer.stop()
