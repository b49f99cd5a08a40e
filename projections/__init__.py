"""projections: events -> read views (evolve), updated incrementally per event."""
