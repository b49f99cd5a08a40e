"""The spec's four throughput requirements, each run end to end through the public commands.

One module per scenario, each with a ``run_*`` that returns plain per-repetition numbers
and the problems its verification found; :mod:`stress.bench.throughput_bench` repeats
them, builds the figures and prints the table:

* :mod:`~stress.throughput.planning`: ``planner plan --exec`` with the example decomposer
  on every task of a 500-task outline, level by level; then the same subtasks through the
  MCP ``add_task`` tool from one client (spec: 500 tasks broken down in < 5 minutes);
* :mod:`~stress.throughput.working`: 1,000 state changes through ``planner set`` processes
  (embedded, and with ``planner serve`` running), through one Python process (embedded,
  served), beside SQLite from 1,000 processes (spec: < 2 minutes);
* :mod:`~stress.throughput.agents`: ``planner work --agents 10 --exec`` on a generated
  200-task project, beside GNU ``make -j10`` over the same graph; utilisation and idle time
  from the log (spec: < 30 minutes);
* :mod:`~stress.throughput.fileops`: 1,000 file operations (checkpoints with data, the
  task read back, exports) from 1 and from 10 processes (spec: < 1 minute; 100 ops/s
  with < 1% failures).

:mod:`~stress.throughput.common` holds the pieces they share (the CLI as a process, the
verification). Everything goes through public entry points: the command line, the service
API a client opens (``stress.serving.open_project``), the MCP client.
"""
