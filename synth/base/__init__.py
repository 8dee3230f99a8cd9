"""The shared vocabulary: schema, errors, atomic I/O, progress and spends.

Every layer imports this package (generators, evaluators, the service, the
SDK); it imports none of them, and no gRPC, SQL or torch. Import-linter
checks that in `make lint`.
"""
