"""`faregate demo`: simulated providers, a realistic workload, and the savings, end to end."""
