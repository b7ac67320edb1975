"""The emulated org: its SQLite store, generated data, object catalog and SOQL engine."""
