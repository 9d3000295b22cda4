"""The busy-poll policy: when a poll is tried after a write, and how misses back it off."""

from __future__ import annotations

import itertools

from trio_ws_events._sansio.busypoll import MAX_SKIP, BusyPoll


def wanted_pattern(policy: BusyPoll, writes: int, answered: bool) -> list[bool]:
    """Which of ``writes`` writes try a poll, each poll ending ``answered`` or not."""
    pattern = []
    for _ in range(writes):
        wanted = policy.wanted()
        pattern.append(wanted)
        if wanted:
            policy.done(answered=answered)
    return pattern


def test_budget_zero_never_polls() -> None:
    """busy_poll=0: no write tries a poll."""
    policy = BusyPoll(0.0)
    assert not any(wanted_pattern(policy, 100, answered=True))
    assert policy.polls == 0


def test_answered_polls_poll_after_every_write() -> None:
    """While answers come within the budget, every write is followed by a poll."""
    policy = BusyPoll(50e-6)
    assert all(wanted_pattern(policy, 50, answered=True))
    assert (policy.polls, policy.hits) == (50, 50)


def test_misses_back_off_doubling_up_to_max_skip() -> None:
    """Each miss doubles the writes skipped before the next poll, up to MAX_SKIP."""
    policy = BusyPoll(50e-6)
    pattern = wanted_pattern(policy, 2000, answered=False)
    polled_at = [i for i, wanted in enumerate(pattern) if wanted]
    gaps = [b - a - 1 for a, b in itertools.pairwise(polled_at)]
    assert gaps[:7] == [1, 2, 4, 8, 16, 32, 64]
    assert set(gaps[6:]) == {MAX_SKIP}
    assert policy.hits == 0
    # A silent peer costs one poll per MAX_SKIP writes once backed off.
    assert policy.polls <= 7 + 2000 // MAX_SKIP


def test_an_answer_resets_the_backoff() -> None:
    """After misses, one answered poll makes the next write poll again."""
    policy = BusyPoll(50e-6)
    wanted_pattern(policy, 200, answered=False)
    while not policy.wanted():
        pass
    policy.done(answered=True)
    assert policy.wanted()
    policy.done(answered=False)
    assert [policy.wanted() for _ in range(2)] == [False, True]
