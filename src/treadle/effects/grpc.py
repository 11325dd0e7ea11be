"""`call: grpc` — a unary (or server-streaming) gRPC call described by a .proto file.

The proto (`proto`, an external resource) is compiled at run time with `grpcio-tools`
(protoc, in a worker thread) into a descriptor set, loaded into a *private* descriptor
pool, and cached by the content's hash for the life of the process, so each distinct
proto is compiled once. A private pool (rather than importing generated `_pb2` modules
with importlib) lets two versions of the same proto, or two protos declaring the same
names, live side by side without clashing in protobuf's global pool. A local proto may
import its neighbours (its directory is on the include path); protobuf's well-known
types (`google/protobuf/*.proto`) are always available.

`service: {name, host, port, authentication}` (`name` is `package.Service`), `method`,
`arguments` (JSON turned into the request message by `json_format.ParseDict`; the
response comes back as a dict with the proto's field names). A server-streaming method
returns the list of its responses. The channel is plain text, except on port 443 where
it uses TLS with the system's roots.

`authentication`: any policy `call: http` accepts that yields an `Authorization` header
up front (basic, bearer, oauth2, oidc) is sent as `authorization` metadata; digest
needs an HTTP challenge and is refused.

gRPC status → DSL error:

    UNAVAILABLE          communication   503
    DEADLINE_EXCEEDED    timeout         408
    UNAUTHENTICATED      authentication  401
    PERMISSION_DENIED    authorization   403
    INVALID_ARGUMENT     validation      400
    any other            communication   500, the code's name in the detail
    (malformed reply)    communication   502

Cancelling the awaiting coroutine cancels the RPC (the server sees it cancelled).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorSet
from google.protobuf.message import DecodeError, Message
from grpc_tools import protoc

from treadle.effects.credentials import authorization_header
from treadle.effects.handler import Shared
from treadle.effects.resources import Resource, load_resource, resource_uri
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["STATUS_ERRORS", "CompiledProto", "GrpcCall", "compile_proto", "map_rpc_error"]

STATUS_ERRORS: Mapping[grpc.StatusCode, tuple[str, int]] = {
    grpc.StatusCode.UNAVAILABLE: (ErrorType.COMMUNICATION, 503),
    grpc.StatusCode.DEADLINE_EXCEEDED: (ErrorType.TIMEOUT, 408),
    grpc.StatusCode.UNAUTHENTICATED: (ErrorType.AUTHENTICATION, 401),
    grpc.StatusCode.PERMISSION_DENIED: (ErrorType.AUTHORIZATION, 403),
    grpc.StatusCode.INVALID_ARGUMENT: (ErrorType.VALIDATION, 400),
}

# Process-wide: compiled protos do not depend on a dispatcher, and compiling costs ~50 ms.
_COMPILED: dict[str, CompiledProto] = {}
# protoc's entry point keeps global state; one compilation at a time.
_PROTOC_LOCK = asyncio.Lock()


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid gRPC call", detail=detail)


@dataclass(frozen=True)
class CompiledProto:
    """The services and messages of one compiled proto, in their own descriptor pool."""

    pool: descriptor_pool.DescriptorPool

    def method(self, service: str, method: str) -> MethodDescriptor:
        """The descriptor of `service.method`; a configuration error naming what exists."""
        try:
            service_descriptor = self.pool.FindServiceByName(service)
        except KeyError:
            raise _config_error(
                f"the proto has no service '{service}' (use its full name, package.Service)"
            ) from None
        found: MethodDescriptor | None = service_descriptor.methods_by_name.get(method)
        if found is None:
            names = ", ".join(sorted(service_descriptor.methods_by_name)) or "none"
            raise _config_error(f"service '{service}' has no method '{method}' (methods: {names})")
        return found

    def message_class(self, full_name: str) -> type[Message]:
        """The generated Python class of the message `full_name`."""
        found: type[Message] = message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))
        return found


def _well_known_include() -> str:
    return str(importlib.resources.files("grpc_tools") / "_proto")


def _run_protoc(source: Resource) -> CompiledProto:
    """Compile `source` into a descriptor set and load it into a fresh pool (blocking)."""
    with tempfile.TemporaryDirectory(prefix="treadle-proto-") as folder:
        work = Path(folder)
        name = Path(source.uri).name if source.uri.endswith(".proto") else "service.proto"
        (work / name).write_bytes(source.content)
        includes = [f"-I{work}", f"-I{_well_known_include()}"]
        if not source.is_remote:
            includes.append(f"-I{Path(source.uri).parent}")
        output = work / "descriptors.pb"
        code = protoc.main(["protoc", *includes, "--include_imports", f"--descriptor_set_out={output}", name])
        if code != 0 or not output.exists():
            # protoc prints its diagnostics on stderr; the exit code is all main() returns.
            raise _config_error(f"protoc could not compile the proto at {source.uri} (exit code {code})")
        descriptors = FileDescriptorSet.FromString(output.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in descriptors.file:
        pool.Add(file)
    return CompiledProto(pool=pool)


async def compile_proto(source: Resource) -> CompiledProto:
    """The compiled form of `source`, compiled once per distinct content."""
    digest = hashlib.sha256(source.content).hexdigest()
    cached = _COMPILED.get(digest)
    if cached is not None:
        return cached
    async with _PROTOC_LOCK:
        if digest not in _COMPILED:
            _COMPILED[digest] = await asyncio.to_thread(_run_protoc, source)
    return _COMPILED[digest]


def map_rpc_error(exc: grpc.RpcError, target: str, path: str) -> WorkflowError:
    """The DSL error for a failed RPC (see the module docstring's table)."""
    code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else grpc.StatusCode.UNKNOWN
    details = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
    error_type, status = STATUS_ERRORS.get(code, (ErrorType.COMMUNICATION, 500))
    return WorkflowError(
        error_type,
        status=status,
        title=f"gRPC {code.name}",
        detail=f"{path} on {target} failed with {code.name}: {details}",
        grpcStatus=code.name,
    )


@dataclass(frozen=True)
class _Service:
    name: str
    host: str
    port: int | None
    authentication: Mapping[str, Any] | None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}" if self.port is not None else self.host


def _service(raw: Any) -> _Service:
    if not isinstance(raw, Mapping):
        raise _config_error("'service' is required: {name, host, port}")
    name, host, port, policy = raw.get("name"), raw.get("host"), raw.get("port"), raw.get("authentication")
    if not isinstance(name, str) or not name:
        raise _config_error("'service.name' is required (package.Service)")
    if not isinstance(host, str) or not host:
        raise _config_error("'service.host' is required")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise _config_error("'service.port' must be an integer")
    if policy is not None and not isinstance(policy, Mapping):
        raise _config_error("'service.authentication' must be an object")
    return _Service(name=name, host=host, port=port, authentication=policy)


async def _metadata(service: _Service, shared: Shared) -> tuple[tuple[str, str], ...]:
    """The `authorization` metadata for the service's policy, obtained as HTTP would."""
    if service.authentication is None:
        return ()
    header, _ = await authorization_header(
        service.authentication, shared, f"https://{service.target}/{service.name}"
    )
    return (("authorization", header),) if header is not None else ()


def _request(compiled: CompiledProto, method: MethodDescriptor, arguments: Any) -> Message:
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise _config_error("'arguments' must be an object")
    request = compiled.message_class(method.input_type.full_name)()
    try:
        json_format.ParseDict(dict(arguments), request)
    except json_format.ParseError as exc:
        raise WorkflowError(
            ErrorType.VALIDATION,
            status=400,
            title="Invalid gRPC arguments",
            detail=f"the arguments do not fit {method.input_type.full_name}: {exc}",
        ) from None
    return request


def _to_dict(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


def _channel(service: _Service) -> grpc.aio.Channel:
    if service.port == 443:
        return grpc.aio.secure_channel(service.target, grpc.ssl_channel_credentials())
    return grpc.aio.insecure_channel(service.target)


class GrpcCall:
    """Performs `call: grpc`."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Call `service.method` with `arguments`; the response as a dict (a list if streamed)."""
        service = _service(args.get("service"))
        method_name = args.get("method")
        if not isinstance(method_name, str) or not method_name:
            raise _config_error("'method' is required")
        resource_uri(args.get("proto"), "proto")  # a clear error before any download
        compiled = await compile_proto(await load_resource(args.get("proto"), self._shared, "proto"))
        method = compiled.method(service.name, method_name)
        if method.client_streaming:
            raise _config_error(
                f"'{method_name}' is client-streaming; only unary and server-streaming are supported"
            )
        request = _request(compiled, method, args.get("arguments"))
        metadata = (*await _metadata(service, self._shared), ("idempotency-key", key))
        return await self._invoke(service, method, compiled, request, metadata)

    async def _invoke(
        self,
        service: _Service,
        method: MethodDescriptor,
        compiled: CompiledProto,
        request: Message,
        metadata: tuple[tuple[str, str], ...],
    ) -> Any:
        path = f"/{service.name}/{method.name}"
        response_class = compiled.message_class(method.output_type.full_name)

        def shape(reply: Message | _Malformed) -> dict[str, Any]:
            if isinstance(reply, _Malformed):
                raise WorkflowError(
                    ErrorType.COMMUNICATION,
                    status=502,
                    title="Malformed gRPC response",
                    detail=f"{path} on {service.target} answered bytes that are not a "
                    f"{method.output_type.full_name}: {reply.reason}",
                )
            return _to_dict(reply)

        deserialize = _tolerant_parser(response_class)
        try:
            async with _channel(service) as channel:
                if method.server_streaming:
                    stream = channel.unary_stream(
                        path, request_serializer=_serialize, response_deserializer=deserialize
                    )
                    return [shape(item) async for item in stream(request, metadata=metadata)]
                unary = channel.unary_unary(
                    path, request_serializer=_serialize, response_deserializer=deserialize
                )
                return shape(await unary(request, metadata=metadata))
        except grpc.RpcError as exc:
            raise map_rpc_error(exc, service.target, path) from None


@dataclass(frozen=True)
class _Malformed:
    reason: str


def _tolerant_parser(response_class: type[Message]) -> Callable[[bytes], Message | _Malformed]:
    """A response parser that reports bad bytes as a value.

    grpc logs a parser's exception and hands the caller None instead, which would hide the
    reason; returning it lets the call raise a clear communication error.
    """

    def parse(data: bytes) -> Message | _Malformed:
        try:
            message: Message = response_class.FromString(data)
        except DecodeError as exc:
            return _Malformed(str(exc))
        return message

    return parse


def _serialize(message: Message) -> bytes:
    data: bytes = message.SerializeToString()
    return data
