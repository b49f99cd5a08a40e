"""The agents' processes: ``planner work``'s supervisor, its workers, and the simulated job."""
