"""The rule pack is data, not code. This file only lets the installed pack be found with
`importlib.resources.files("recordcheck.rules")`; nothing here is imported for its contents."""
