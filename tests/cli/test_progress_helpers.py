"""The batch display helpers: exit codes from typed fields, never from the wording of a reason."""

from __future__ import annotations

from inpaint_async.batch import BatchSummary
from inpaint_async.cli._errors import EXIT_BUDGET, EXIT_OK, EXIT_OTHER
from inpaint_async.cli._progress import batch_exit_code


def test_the_budget_exit_code_comes_from_stopped_by() -> None:
    """A budget stop exits 9; an input error whose text mentions a budget does not."""
    assert batch_exit_code(BatchSummary(stopped_by="budget", stopped_reason="spent")) == EXIT_BUDGET
    misleading = BatchSummary(stopped_by="input", stopped_reason="input error: budget.jsonl:3")
    assert batch_exit_code(misleading) == EXIT_OTHER
    assert batch_exit_code(BatchSummary()) == EXIT_OK
