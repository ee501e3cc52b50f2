"""Dashboards: definitions read from data files, building them from frames, caching, static export."""
