"""Small load tools and servers, each run as its own process (``python -m bench.tools.X``)
so that the load generator, the proxy and the backends never share an event loop."""
