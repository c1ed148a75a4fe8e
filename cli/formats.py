"""The report formats of `audit` (the command line offers them; `cli.report` writes them)."""

FORMATS = ("text", "json", "jsonl", "sarif", "junit")
"""text (people), json (the contract's schema), jsonl (JSON lines: each finding of the json format on a line
of its own, then a last line `{"summary": {...}}`, for tools that read a stream; a report without that line
was cut short), sarif (2.1.0), junit (CI test reports)."""
