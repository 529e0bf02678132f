"""Layer 2, data: reading and validating an export, coding the open answers, cleaning into the derived data."""
