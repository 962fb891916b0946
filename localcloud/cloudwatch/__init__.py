"""CloudWatch: metrics, metric alarms and their state-change events."""
