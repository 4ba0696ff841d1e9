"""The claims scorecard: every claim listed, records matched to claims, statuses honest."""

import pytest

from alexnet_lib.experiments.records import Record, load_records, save_result
from alexnet_lib.scorecard import (
    ALL_STATUSES,
    BOOK_CHECKS,
    CANNOT_BE_TESTED,
    CANNOT_TEST,
    CHECK_HOLDS,
    CLAIM_STATUSES,
    CLAIMS,
    FACT,
    MIXED,
    NOT_MEASURED,
    VERDICTS,
    Fact,
    architecture_facts,
    architecture_records,
    claim_verdicts,
    render_markdown,
    render_verdicts,
    scorecard_rows,
    status_counts,
)


def record(claim: int, status: str = "reproduced", experiment: str = "x",
           text: str = "") -> Record:
    return Record(claim=claim, claim_text=text or f"claim {claim} part", paper="p",
                  ours="o | with a bar", scale="s", status=status, experiment=experiment,
                  notebook="book/x.ipynb", command="python -m x")


def fact(claim: int) -> Fact:
    return Fact(claim, "an arithmetic fact", "p", "o", "s", "x", command="f()")


def test_every_claim_of_the_list_is_there_once_or_more():
    assert [c.number for c in CLAIMS] == list(range(12))
    rows = scorecard_rows(records=[record(4), record(4, "not reproduced at this scale"), record(99)])
    numbers = [r.claim.number for r in rows]
    assert set(range(12)) <= set(numbers)
    assert numbers.count(4) == 2 and numbers[-1] == 99  # unknown claims are kept, at the end
    unmeasured = {r.claim.number: r.status for r in rows if r.record is None}
    assert unmeasured[10] == "needs ImageNet" and unmeasured[1] == NOT_MEASURED
    assert all(r.status in ALL_STATUSES for r in rows)


def test_results_claim_lists_the_seven_cnn_ensemble():
    results = next(c for c in CLAIMS if c.topic == "results")
    assert "37.5%/17.0%" in results.text and "40.7%/18.2%" in results.text
    assert "seven CNNs" in results.text and "15.3%" in results.text


def test_a_claim_is_judged_on_all_its_records():
    bad = "not reproduced at this scale"
    rows = scorecard_rows(records=[
        record(1), record(1),  # all reproduced
        record(2), record(2, bad),  # records disagree
        record(3, bad), record(3, bad),  # all failed
        record(4), record(4, "needs ImageNet"),  # one part tested, the other not testable
        record(5, "needs ImageNet"),  # nothing tested
        record(6, "needs ImageNet"), record(6, experiment="columns",
                                            text=next(iter(CANNOT_TEST))[1]),
    ])
    verdicts = claim_verdicts(rows)
    assert verdicts[1] == "reproduced" and verdicts[3] == bad
    assert verdicts[2] == MIXED and verdicts[4] == MIXED  # not the best record's status
    assert verdicts[5] == "needs ImageNet" and verdicts[6] == CANNOT_BE_TESTED
    assert verdicts[11] == NOT_MEASURED and verdicts[10] == "needs ImageNet"  # no record
    assert set(verdicts.values()) <= set(VERDICTS)
    per_claim = status_counts(rows)
    assert sum(per_claim.values()) == 12 and per_claim[MIXED] == 2
    table = render_verdicts(rows)
    assert table.count("\n") == 12 + 1 and "| 2 | LRN | 1 reproduced, 1 not reproduced" in table
    assert "| 11 | preprocessing | no record | **not yet measured** |" in table


def test_facts_and_the_books_checks_are_not_claims():
    check = next(iter(BOOK_CHECKS))
    rows = scorecard_rows(records=[fact(0), record(0), record(6, experiment=check[0],
                                                                 text=check[1]),
                                   record(6, "not reproduced at this scale")])
    kinds = {(r.claim.number, r.kind): r.status for r in rows}
    assert kinds[(0, "fact")] == FACT and kinds[(6, "check")] == CHECK_HOLDS
    assert [r.kind for r in rows if r.claim.number == 0] == ["claim", "fact"]  # facts last
    verdicts = claim_verdicts(rows)
    # Neither the fact nor the (holding) check counts for its claim.
    assert verdicts[0] == "reproduced" and verdicts[6] == "not reproduced at this scale"
    only_fact = claim_verdicts(scorecard_rows(records=[fact(1)]))
    assert only_fact[1] == NOT_MEASURED
    text = render_markdown(rows)
    assert f"*{FACT}*" in text and f"**{CHECK_HOLDS}** (" in text


def test_reclassified_records_match_the_committed_ones():
    """Every record named by BOOK_CHECKS or CANNOT_TEST is in book/results, exactly once, so a
    changed record text cannot silently turn a check back into a claim."""
    keys = [(r.experiment, r.claim_text) for r in load_records()]
    for key in [*BOOK_CHECKS, *CANNOT_TEST]:
        assert keys.count(key) == 1, key
    rows = scorecard_rows()
    speed = [r for r in rows if r.record is not None and r.claim.number == 7
             and r.status == CANNOT_BE_TESTED]
    assert len(speed) == 1 and speed[0].record.status == "not reproduced at this scale"
    assert speed[0].note  # says why


def test_counts_and_markdown():
    rows = scorecard_rows(records=[record(4), record(4, "not reproduced at this scale")])
    per_claim = status_counts(rows)
    assert sum(per_claim.values()) == 12 and per_claim["reproduced"] == 0
    assert per_claim[MIXED] == 1
    per_row = status_counts(rows, per="row")
    assert per_row["not reproduced at this scale"] == 1 and sum(per_row.values()) == len(rows)
    text = render_markdown(rows)
    assert text.count("\n") == len(rows) + 1
    assert "o \\| with a bar" in text and "`book/x.ipynb; python -m x`" in text


def test_rows_come_from_saved_result_files(tmp_path):
    save_result(tmp_path / "a.json", "a", "builtin", {}, {}, [record(7, experiment="a")])
    rows = scorecard_rows(results=tmp_path, include_architecture=False)
    seven = [r for r in rows if r.claim.number == 7]
    assert len(seven) == 1 and seven[0].record is not None and seven[0].status == "reproduced"
    assert scorecard_rows(results=tmp_path / "missing", include_architecture=False)[0].record is None


def test_architecture_records_are_computed_not_typed():
    recs = architecture_records()
    assert all(r.claim == 0 for r in recs)
    params = next(r for r in recs if "parameters" in r.values)
    assert params.values["parameters"] == 60_965_224 and params.status == "reproduced"
    assert all(r.status == "reproduced" for r in recs)
    facts = architecture_facts()
    conv1 = next(f for f in facts if f.claim_text.startswith("neurons of conv1"))
    assert conv1.values == {"ours": 290_400, "paper": 253_440}
    unpadded = next(f for f in facts if "224" in f.claim_text)
    assert unpadded.values["unpadded"] == 54.25
    rows = scorecard_rows()
    assert {r.status for r in rows if r.kind == "fact"} == {FACT}
    assert all(r.status in CLAIM_STATUSES for r in rows if r.kind == "claim")


def test_invalid_status_is_refused():
    with pytest.raises(ValueError):
        record(1, status="sort of")


def test_result_files_are_the_ones_that_hold_records(tmp_path) -> None:
    import json

    from alexnet_lib.experiments.records import result_files

    (tmp_path / "a.json").write_text(json.dumps({"records": [{"claim": 1}]}))
    (tmp_path / "bench.json").write_text(json.dumps({"kind": "book_time", "seconds": {}}))
    (tmp_path / "empty.json").write_text(json.dumps({"records": []}))
    assert result_files(tmp_path) == ["a.json"]
