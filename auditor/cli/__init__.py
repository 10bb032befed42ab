"""The command line: click commands only. Each command parses its flags, builds settings, calls one function
of `auditor.app` and maps the outcome to an exit code from `auditor.errors.ExitCode`.

The top of the house: may import anything; nothing in `auditor` imports it (`auditor.__main__` and the console
scripts start it).
"""
