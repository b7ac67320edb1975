"""sfbackup: complete, verifiable Salesforce backups.

The library API is re-exported here; the `sfbackup` command is a thin shell over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
