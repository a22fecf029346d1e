"""The batch display helpers: exit codes from typed fields, never from the wording of a reason."""

from __future__ import annotations

import io

from rich.console import Console

from inpaint_async.batch import BatchSummary
from inpaint_async.cli._errors import EXIT_BUDGET, EXIT_OK, EXIT_OTHER
from inpaint_async.cli._output import Output
from inpaint_async.cli._progress import BatchDisplay, batch_exit_code


def test_the_budget_exit_code_comes_from_stopped_by() -> None:
    """A budget stop exits 9; an input error whose text mentions a budget does not."""
    assert batch_exit_code(BatchSummary(stopped_by="budget", stopped_reason="spent")) == EXIT_BUDGET
    misleading = BatchSummary(stopped_by="input", stopped_reason="input error: budget.jsonl:3")
    assert batch_exit_code(misleading) == EXIT_OTHER
    assert batch_exit_code(BatchSummary()) == EXIT_OK


def _terminal_output(screen: io.StringIO, *, stdout_is_terminal: bool) -> Output:
    """An Output whose stderr (and stdout, if asked) are one terminal screen."""
    output = Output(stdout=io.StringIO(), stderr=screen)
    output.err = Console(file=screen, force_terminal=True, width=100, highlight=False)
    if stdout_is_terminal:
        output.out = Console(file=screen, force_terminal=True, width=100, highlight=False)
    return output


def test_a_line_said_during_a_batch_goes_above_the_bar_on_a_terminal() -> None:
    """On one terminal, narration goes through the bar's console, never onto the bar's line."""
    screen = io.StringIO()
    output = _terminal_output(screen, stdout_is_terminal=True)
    display = BatchDisplay(output, total=3, quiet=False)
    bar = display._bar
    assert bar is not None
    said: list[str] = []
    bar.print = lambda *objects: said.append(str(objects[0]))  # type: ignore[method-assign]
    display.say("before the bar")  # not drawn yet: where Output.say prints
    with bar:
        display.say("402 Payment Required")
    display.say("after the bar")
    assert said == ["402 Payment Required"]
    assert "before the bar" in screen.getvalue() and "after the bar" in screen.getvalue()


def test_a_line_said_during_a_batch_stays_on_a_piped_stdout() -> None:
    """stdout piped to a file keeps the result's lines, bar or not."""
    screen = io.StringIO()
    output = _terminal_output(screen, stdout_is_terminal=False)
    display = BatchDisplay(output, total=3, quiet=False)
    assert display._bar is not None
    with display._bar:
        display.say("402 Payment Required")
    assert output._stdout is not None
    assert "402 Payment Required" in output._stdout.getvalue()
    assert "402 Payment Required" not in screen.getvalue()
