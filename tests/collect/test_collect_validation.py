"""The rule that settles an entry from its votes."""

from dynahate.collect.validation import Ballot, Outcome, settle

OK, NO, FLAG = Ballot("correct"), Ballot("incorrect", "not hate"), Ballot("flagged")


def test_n_matching_votes_settle_an_entry_and_fewer_leave_it_waiting():
    assert settle([], 3) == Outcome("pending")
    assert settle([OK, OK], 3) == Outcome("pending")
    assert settle([OK, NO, OK, FLAG, OK], 3) == Outcome("verified")
    assert settle([NO, OK, NO, NO], 3) == Outcome("rejected", "not hate")
    assert settle([FLAG, FLAG, OK, FLAG], 3) == Outcome("rejected")
    assert settle([OK], 1) == Outcome("verified")


def test_an_owner_vote_settles_it_alone_whatever_the_others_said():
    assert settle([OK, OK, Ballot("incorrect", "hate", by_owner=True)], 3) == Outcome("rejected", "hate")
    assert settle([NO, NO, Ballot("correct", by_owner=True)], 3) == Outcome("verified")
    assert settle([Ballot("flagged", by_owner=True)], 3) == Outcome("rejected")
