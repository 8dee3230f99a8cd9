"""The gRPC server: servicers, the error interceptor, health, reflection."""

from synth.server.app import RunningServer, ServerConfig, serve_forever, start_server

__all__ = ["RunningServer", "ServerConfig", "serve_forever", "start_server"]
