"""The narrative screen: free text (referral and incident summaries, incident log entries) read
for disclosures of notifiable offences that nobody coded. Its cue lexicons and ConText assertion
terms are data in the rule pack (`rules/lexicons/`); the screen is SQL in the run's DuckDB and
writes a table of hits that never holds a word of the text.

May import: `checks.base`, `checks.extract`.
"""
