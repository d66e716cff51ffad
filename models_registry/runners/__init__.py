"""Where models run: sandboxed runner processes (DESIGN.md, "Where models run").

mlserve's web and queue workers never load or execute a model file or a deployment
script. They parse and validate requests, then hand batches to a runner: a process
that holds one model, forked from a warm zygote inside a bubblewrap sandbox, with no
network, no data directory, no secrets and no view of other processes.

- wire.py        frames, batches and predictions over Unix sockets
- sandbox.py     the bubblewrap command line, and who runners run as
- confine.py     what each forked runner does to itself (namespaces, seccomp, rlimits)
- zygote.py      the warm fork server, and single runners (PMML)
- runner.py      a runner: load, serve, batch
- supervisor.py  one per machine: starts, watches and stops runners
- client.py      what mlserve's own processes call (needs Django settings)

Only client.py imports Django: everything else runs in processes that have none.
"""
