"""permitsync: keeps Passport OpsMan's enforcement rights equal to Offstreet's permits."""

__version__ = "0.1.0"
