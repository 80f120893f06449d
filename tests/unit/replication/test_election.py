"""The controller's leader and ISR rules (``broker.metadata.election.reconcile``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.metadata.election import reconcile
from broker.metadata.records import PartitionState
from unit.replication.helpers import broker, state

STATE_VERSION = 100


def brokers(*nodes: int, restarted: tuple[int, ...] = (), stopping: tuple[int, ...] = ()):  # type: ignore[no-untyped-def]
    """Registrations: older than the partition state unless ``restarted``."""
    return {
        n: broker(n, STATE_VERSION + 5 if n in restarted else 1, n in stopping) for n in nodes
    }


def test_a_healthy_leader_keeps_the_partition() -> None:
    assert reconcile(state(), STATE_VERSION, brokers(1, 2, 3)) is None


def test_a_dead_leader_is_replaced_from_the_isr_and_leaves_it() -> None:
    new = reconcile(state(isr=(1, 3, 2)), STATE_VERSION, brokers(2, 3))
    assert new is not None
    assert new.leader == 2, "replica order decides among in-sync candidates"
    assert new.leader_epoch == 1
    assert new.isr == (3, 2)
    assert new.replicas == (1, 2, 3)


def test_a_dead_follower_leaves_the_isr_without_a_new_epoch() -> None:
    new = reconcile(state(), STATE_VERSION, brokers(1, 2))
    assert new == state(isr=(1, 2))


def test_no_leader_from_outside_the_isr() -> None:
    current = state(isr=(1,))
    offline = reconcile(current, STATE_VERSION, brokers(2, 3))
    assert offline is not None
    assert offline.leader == -1
    assert offline.leader_epoch == 1
    assert offline.isr == (1,), "the ISR waits for its last member"
    assert reconcile(offline, STATE_VERSION, brokers(2, 3)) is None
    # The last in-sync replica comes back (a new registration): it leads again.
    back = reconcile(offline, STATE_VERSION, brokers(1, 2, 3, restarted=(1,)))
    assert back is not None
    assert (back.leader, back.leader_epoch, back.isr) == (1, 2, (1,))


def test_unclean_election_takes_a_live_replica_and_makes_it_the_isr() -> None:
    new = reconcile(state(isr=(1,)), STATE_VERSION, brokers(2, 3), unclean=True)
    assert new is not None
    assert (new.leader, new.leader_epoch, new.isr) == (2, 1, (2,))


def test_a_restarted_leader_hands_over_to_an_in_sync_follower() -> None:
    new = reconcile(state(), STATE_VERSION, brokers(1, 2, 3, restarted=(1,)))
    assert new is not None
    assert new.leader == 2
    assert new.leader_epoch == 1
    assert new.isr == (2, 3), "the restarted broker rejoins after catching up"


def test_a_restarted_sole_replica_is_elected_again_in_a_new_epoch() -> None:
    current = state(replicas=(1,), isr=(1,), epoch=4)
    new = reconcile(current, STATE_VERSION, brokers(1, restarted=(1,)))
    assert new is not None
    assert (new.leader, new.leader_epoch, new.isr) == (1, 5, (1,))


def test_a_restarted_follower_leaves_the_isr() -> None:
    new = reconcile(state(), STATE_VERSION, brokers(1, 2, 3, restarted=(3,)))
    assert new == state(isr=(1, 2))


def test_a_whole_cluster_restart_elects_from_the_isr() -> None:
    new = reconcile(state(isr=(2, 3)), STATE_VERSION, brokers(1, 2, 3, restarted=(1, 2, 3)))
    assert new is not None
    assert new.leader == 2
    assert new.isr == (2,), "never empty: the leader stays"


def test_controlled_shutdown_moves_leadership_and_isr_membership() -> None:
    new = reconcile(state(), STATE_VERSION, brokers(1, 2, 3, stopping=(1,)))
    assert new is not None
    assert (new.leader, new.leader_epoch, new.isr) == (2, 1, (2, 3))
    follower = reconcile(state(leader=2), STATE_VERSION, brokers(1, 2, 3, stopping=(3,)))
    assert follower == state(leader=2, isr=(1, 2))


def test_the_last_in_sync_replica_keeps_leading_while_it_shuts_down() -> None:
    current = state(isr=(1,))
    assert reconcile(current, STATE_VERSION, brokers(1, 2, 3, stopping=(1,))) is None


def test_preferred_leader_returns_when_in_sync_and_asked() -> None:
    current = state(leader=2, epoch=3)
    assert reconcile(current, STATE_VERSION, brokers(1, 2, 3)) is None
    new = reconcile(current, STATE_VERSION, brokers(1, 2, 3), preferred=True)
    assert new is not None
    assert (new.leader, new.leader_epoch, new.isr) == (1, 4, (1, 2, 3))
    lagging = state(leader=2, epoch=3, isr=(2, 3))
    assert reconcile(lagging, STATE_VERSION, brokers(1, 2, 3), preferred=True) is None


_nodes = st.sampled_from([1, 2, 3, 4])


@st.composite
def scenarios(draw):  # type: ignore[no-untyped-def]
    replicas = tuple(draw(st.lists(_nodes, min_size=1, max_size=4, unique=True)))
    isr = tuple(r for r in replicas if draw(st.booleans())) or replicas[:1]
    leader = draw(st.sampled_from([-1, *isr]))
    live = draw(st.lists(_nodes, unique=True, max_size=4))
    restarted = tuple(n for n in live if draw(st.booleans()))
    stopping = tuple(n for n in live if draw(st.booleans()))
    current = PartitionState("t", 0, replicas, leader, draw(st.integers(0, 5)), isr)
    return current, brokers(*live, restarted=restarted, stopping=stopping)


@given(scenarios(), st.booleans(), st.booleans())
def test_invariants_of_every_decision(scenario, unclean: bool, preferred: bool) -> None:  # type: ignore[no-untyped-def]
    current, live = scenario
    new = reconcile(current, STATE_VERSION, live, unclean=unclean, preferred=preferred)
    if new is None:
        return
    assert new.replicas == current.replicas
    assert new.isr, "the ISR is never empty"
    assert new.leader_epoch >= current.leader_epoch
    if new.leader != current.leader:
        assert new.leader_epoch == current.leader_epoch + 1, "every leader change bumps the epoch"
    if new.leader != -1:
        assert new.leader in live, "only a live broker leads"
        assert new.leader in new.isr
        if not unclean:
            assert new.leader in current.isr, "clean elections stay inside the ISR"
            assert set(new.isr) <= set(current.isr)
    else:
        assert new.isr == current.isr
    # The written state is newer than every registration; the rules accept their own outcome
    # (a controller reacting to its own write must not write again).
    assert reconcile(new, STATE_VERSION + 10, live, unclean=unclean) is None
