"""Reading a backup after the org is gone: offline, from a snapshot in a folder or in S3.

Labels and lookups from the snapshot's schema files (labels.py), live rows (tables.py), spreadsheets
and CSV for people (spreadsheet.py), files under their real names (restore_files.py), SQL over
DuckDB views (sql.py), restic-like listing (listing.py) and diff (diff.py), a local web app
(browse.py) and a migration pack in the layout of Salesforce's Data Export (migration.py).
"""
