"""Benchmarks that measure nothing, for testing the command line: each returns what a test put in
:data:`OUTPUT` under its name (figures, failures; or a list of them, one per run, the last one
repeated), prints one line, and notes that it ran."""

from stress.bench import BenchResult

OUTPUT: dict[str, tuple | list[tuple]] = {}
RAN: list[str] = []


def _run(name, options, out):
    RAN.append(name)
    if name not in OUTPUT:
        raise RuntimeError(f"the {name} benchmark fell over")
    output = OUTPUT[name]
    if isinstance(output, list):
        output = output.pop(0) if len(output) > 1 else output[0]
    figures, failures = output
    print(f"fake {name}: quick={options.quick} repeat={options.repeat}", file=out)
    return BenchResult(figures, list(failures))


class _Module:
    def __init__(self, name):
        self.name = name

    def run(self, options, out):
        return _run(self.name, options, out)
