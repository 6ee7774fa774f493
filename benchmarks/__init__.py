"""Parley's benchmark: fan-out throughput, latency and memory, against a seed-style baseline.

``parley bench`` (``benchmarks.cli``) starts the server as a subprocess and drives it from
load-generator processes (``benchmarks.loadgen``) coordinated by ``benchmarks.driver``; the
baseline it compares against is ``benchmarks.seed_relay``, a thread-per-client relay written the
way the classroom seed was. ``benchmarks.procstat`` reads a process's CPU and memory from
``/proc`` (the benchmark is Linux-only), ``benchmarks.loopback`` measures what one socket write
costs on the machine (the floor under any fan-out), ``benchmarks.report`` turns results into
tables and ratios, and ``benchmarks.plot`` draws them (matplotlib, from the ``bench`` extra).
The results are in ``docs/performance.md``. ``benchmarks.frontends`` measures the two frontends
under load instead (``docs/performance-frontends.md``). The package is not installed with
Parley: it runs from a source checkout (``python -m parley bench``, ``python -m benchmarks.…``).
"""
