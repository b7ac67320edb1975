"""Talking to Salesforce: login, the one HTTP client with its retries, SOQL, describes, REST and
Bulk queries, and the Arrow types of a describe's fields.

Nothing here knows where a backup is stored: the package imports no repository, backup, verify,
maintain or CLI module (checked by `lint-imports`).
"""
