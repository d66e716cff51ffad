"""Simplified Chinese number formats for mlserve's pages: digits grouped by three with commas
(1,234,567), as Chinese consoles and reports show row counts and calls; Django's own zh_Hans
formats group nothing. Dates and everything else come from Django's zh_Hans."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
