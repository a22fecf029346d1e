"""Reliability scripts (not tests): the chaos soak and the crash-resume run.

`python -m reliability.soak` and `python -m reliability.crash_resume` print a JSON report and exit
non-zero when an invariant fails. The CI-sized versions live in `tests/proofs/` and import this
package.
"""
