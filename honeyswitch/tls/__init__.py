"""TLS services: terminating the client's TLS, fingerprinting its ClientHello, STARTTLS.

``hello`` and ``fingerprint`` are sans-IO (the client's first records in, a parsed
ClientHello and its JA3/JA4 out); ``settings`` reads the ``tls`` keys of a service;
``contexts`` builds the OpenSSL contexts; ``conn`` is the relay's connection adapter
that runs the TLS session over a plain TCP transport.
"""
