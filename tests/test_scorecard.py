"""The claims scorecard: every claim listed, records matched to claims, statuses honest."""

import pytest

from alexnet_lib.experiments.records import Record, save_result
from alexnet_lib.scorecard import (
    ALL_STATUSES,
    CLAIMS,
    NOT_MEASURED,
    architecture_records,
    render_markdown,
    scorecard_rows,
    status_counts,
)


def record(claim: int, status: str = "reproduced", experiment: str = "x") -> Record:
    return Record(claim=claim, claim_text=f"claim {claim} part", paper="p", ours="o | with a bar",
                  scale="s", status=status, experiment=experiment, notebook="book/x.ipynb",
                  command="python -m x")


def test_every_claim_of_the_list_is_there_once_or_more():
    assert [c.number for c in CLAIMS] == list(range(12))
    rows = scorecard_rows(records=[record(4), record(4, "not reproduced at this scale"), record(99)])
    numbers = [r.claim.number for r in rows]
    assert set(range(12)) <= set(numbers)
    assert numbers.count(4) == 2 and numbers[-1] == 99  # unknown claims are kept, at the end
    unmeasured = {r.claim.number: r.status for r in rows if r.record is None}
    assert unmeasured[10] == "needs ImageNet" and unmeasured[1] == NOT_MEASURED
    assert all(r.status in ALL_STATUSES for r in rows)


def test_counts_and_markdown():
    rows = scorecard_rows(records=[record(4), record(4, "not reproduced at this scale")])
    per_claim = status_counts(rows)
    assert sum(per_claim.values()) == 12 and per_claim["reproduced"] == 1
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
    conv1 = next(r for r in recs if r.claim_text.startswith("neurons of conv1"))
    assert conv1.status == "not reproduced at this scale" and conv1.values["ours"] == 290_400


def test_invalid_status_is_refused():
    with pytest.raises(ValueError):
        record(1, status="sort of")
