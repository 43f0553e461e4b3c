"""Integration tests: end to end through Salt (salt-call, salt-master) on the real Engine."""
