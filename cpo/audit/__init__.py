"""The audit log: every change by an admin or an integration, who, when, what, before and after."""
