"""Domain services: sources, the ledger's rules, training, generation, evaluation.

They know nothing of gRPC; the server translates protos to their calls.
"""
