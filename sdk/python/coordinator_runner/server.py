"""The DynamicSubclassService and grpc.health.v1 servers of one model."""

import inspect
import os
import sys
import threading
from concurrent import futures

import grpc

from . import loader, variant
from ._proto import commons_pb2, dynamic_subclass_pb2, dynamic_subclass_pb2_grpc
from ._proto import health_pb2, health_pb2_grpc

SUCCESS = "SUCCESS"
MODEL_FAILED = "MODEL_FAILED"
FAILED_PRECONDITION = "FAILED_PRECONDITION"

MAX_MESSAGE_BYTES = 64 << 20


def _status(code, message=""):
    return commons_pb2.Status(code=code, message=message)


def _log(msg):
    sys.stderr.write("coordinator_runner: %s\n" % msg)
    sys.stderr.flush()


class ModelService(dynamic_subclass_pb2_grpc.DynamicSubclassServiceServicer):
    """Serves one model instance. Setup, Call and Rest run one at a time:
    a concurrent request is refused with RESOURCE_EXHAUSTED ("Server busy"),
    as CrunchDAO's runner does."""

    def __init__(self, code_dir, extra_paths=()):
        self._code_dir = code_dir
        self._extra_paths = list(extra_paths)
        self._lock = threading.Lock()
        self._instance = None

    def _busy(self, context):
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "Server busy")

    def Setup(self, request, context):
        if not self._lock.acquire(blocking=False):
            self._busy(context)
        try:
            if self._instance is not None:
                return dynamic_subclass_pb2.SetupResponse(status=_status(SUCCESS, "Instance already exists"))
            try:
                cls = loader.load_class(self._code_dir, request.className, self._extra_paths)
                self._instance = loader.instantiate(cls)
            except loader.LoadError as exc:
                _log("Setup %s: %s" % (exc.code, exc))
                return dynamic_subclass_pb2.SetupResponse(status=_status(exc.code, str(exc)))
            _log("Setup: serving %s from %s" % (cls.__qualname__, loader._file_of(cls)))
            return dynamic_subclass_pb2.SetupResponse(status=_status(SUCCESS, cls.__qualname__))
        finally:
            self._lock.release()

    def Call(self, request, context):
        if not self._lock.acquire(blocking=False):
            self._busy(context)
        try:
            return self._call(request)
        finally:
            self._lock.release()

    def _call(self, request):
        def fail(code, message):
            return dynamic_subclass_pb2.CallResponse(status=_status(code, message))

        if self._instance is None:
            return fail(FAILED_PRECONDITION, "Setup has not succeeded yet")
        name = request.methodName
        if not name:
            return fail(loader.INVALID_ARGUMENT, "methodName is empty")
        method = getattr(self._instance, name, None)
        if name.startswith("_") or not callable(method):
            return fail(loader.BAD_IMPLEMENTATION, "%s has no method %s()" % (type(self._instance).__qualname__, name))
        try:
            args = [variant.decode(a.data) for a in sorted(request.methodArguments, key=lambda a: a.position)]
            kwargs = {k.keyword: variant.decode(k.data) for k in request.methodKwArguments}
        except (variant.VariantError, ValueError) as exc:
            return fail(MODEL_FAILED, "undecodable arguments: %s" % exc)
        kwargs = _accepted_kwargs(method, len(args), kwargs)
        try:
            result = method(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the participant's exception
            return fail(MODEL_FAILED, "The model raised an exception in %s(): %s: %s\n%s"
                        % (name, type(exc).__name__, exc, loader.traceback_tail(exc)))
        if result is None:
            return dynamic_subclass_pb2.CallResponse(status=_status(SUCCESS))
        try:
            out = variant.encode(result)
        except variant.VariantError as exc:
            return fail(MODEL_FAILED, "%s() returned a value that cannot be sent: %s" % (name, exc))
        return dynamic_subclass_pb2.CallResponse(status=_status(SUCCESS), methodResponse=out)

    def Rest(self, request, context):
        return dynamic_subclass_pb2.RestResponse(status=_status(SUCCESS))


def _accepted_kwargs(method, npos, kwargs):
    """Keep the keyword arguments method accepts (new optional parameters can
    be added compatibly): all of them with **kwargs, else those naming a
    parameter after the positional ones."""
    if not kwargs:
        return {}
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return {}
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return kwargs
    names = {p.name for i, p in enumerate(params)
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and (p.kind == p.KEYWORD_ONLY or i >= npos)}
    dropped = sorted(set(kwargs) - names)
    if dropped:
        _log("dropping keyword arguments the method does not accept: %s" % ", ".join(dropped))
    return {k: v for k, v in kwargs.items() if k in names}


class HealthService(health_pb2_grpc.HealthServicer):
    """grpc.health.v1: SERVING for "" while the server runs."""

    def Check(self, request, context):
        if request.service:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service %r" % request.service)
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def Watch(self, request, context):
        yield self.Check(request, context)


def serve(code_dir, listen, extra_paths=(), address_file=None, workers=4):
    """Bind listen ("unix:/path" or "host:port", port 0 picks one), write the
    bound address to address_file (atomically) and return the started server
    and that address."""
    opts = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=opts)
    dynamic_subclass_pb2_grpc.add_DynamicSubclassServiceServicer_to_server(ModelService(code_dir, extra_paths), server)
    health_pb2_grpc.add_HealthServicer_to_server(HealthService(), server)
    port = server.add_insecure_port(listen)
    if port == 0 and not listen.startswith("unix:"):
        raise OSError("cannot listen on %s" % listen)
    address = listen
    if not listen.startswith("unix:"):
        host = listen.rsplit(":", 1)[0]
        address = "%s:%d" % (host, port)
    server.start()
    if address_file:
        tmp = address_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(address + "\n")
        os.replace(tmp, address_file)
    _log("serving %s on %s" % (code_dir, address))
    return server, address
