"""churnlab: reproduce PostgreSQL connection churn and ephemeral-port exhaustion."""

__version__ = "0.1.0"
