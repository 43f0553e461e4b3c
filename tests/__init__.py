"""The pytest suite: unit, functional and integration tiers; shared helpers in ``support``."""
