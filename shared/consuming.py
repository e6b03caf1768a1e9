"""The workers' input consumer groups (the namespace is prepended; see ``shared.batchworker``)."""

from __future__ import annotations

#: Consumer groups of the workers' own input consumers (the namespace is prepended). Not the Faust app ids: Faust's
#: own consumer joins a group named after the app, and sharing it would make each rebalance wait for the other.
INGEST_GROUP = "tiendo-ingest-feeds"
AGGREGATE_GROUP = "tiendo-aggregate-updates"
ALERT_GROUP = "tiendo-alert-totals"
