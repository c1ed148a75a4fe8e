"""The report formats of `audit` (the command line offers them; `cli.report` writes them)."""

FORMATS = ("text", "json", "sarif", "junit")
