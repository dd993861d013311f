from netpilot.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_DISCONNECTED: _ClassVar[SessionState]
    SESSION_STATE_CONNECTED: _ClassVar[SessionState]
    SESSION_STATE_ONLINE: _ClassVar[SessionState]

class ConnectionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONNECTION_TYPE_UNSPECIFIED: _ClassVar[ConnectionType]
    CONNECTION_TYPE_LOCAL: _ClassVar[ConnectionType]
    CONNECTION_TYPE_INTERNET: _ClassVar[ConnectionType]
    CONNECTION_TYPE_ANY: _ClassVar[ConnectionType]
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_DISCONNECTED: SessionState
SESSION_STATE_CONNECTED: SessionState
SESSION_STATE_ONLINE: SessionState
CONNECTION_TYPE_UNSPECIFIED: ConnectionType
CONNECTION_TYPE_LOCAL: ConnectionType
CONNECTION_TYPE_INTERNET: ConnectionType
CONNECTION_TYPE_ANY: ConnectionType

class BearerList(_message.Message):
    __slots__ = ("bearers",)
    BEARERS_FIELD_NUMBER: _ClassVar[int]
    bearers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, bearers: _Optional[_Iterable[str]] = ...) -> None: ...

class SessionSettings(_message.Message):
    __slots__ = ("allowed_bearers", "connection_type", "allowed_interface", "context_identifier", "source_ip_rule", "allow_metered")
    ALLOWED_BEARERS_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_INTERFACE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IP_RULE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_METERED_FIELD_NUMBER: _ClassVar[int]
    allowed_bearers: BearerList
    connection_type: ConnectionType
    allowed_interface: str
    context_identifier: str
    source_ip_rule: bool
    allow_metered: bool
    def __init__(self, allowed_bearers: _Optional[_Union[BearerList, _Mapping]] = ..., connection_type: _Optional[_Union[ConnectionType, str]] = ..., allowed_interface: _Optional[str] = ..., context_identifier: _Optional[str] = ..., source_ip_rule: _Optional[bool] = ..., allow_metered: _Optional[bool] = ...) -> None: ...

class OpenSessionRequest(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: SessionSettings
    def __init__(self, settings: _Optional[_Union[SessionSettings, _Mapping]] = ...) -> None: ...

class SessionUpdate(_message.Message):
    __slots__ = ("state", "name", "bearer", "interface", "service_id", "ipv4", "ipv6", "allowed_bearers", "connection_type", "allowed_interface", "context_identifier", "source_ip_rule", "allow_metered", "connect_requested")
    STATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BEARER_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    IPV4_FIELD_NUMBER: _ClassVar[int]
    IPV6_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_BEARERS_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_INTERFACE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IP_RULE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_METERED_FIELD_NUMBER: _ClassVar[int]
    CONNECT_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    state: SessionState
    name: str
    bearer: str
    interface: str
    service_id: str
    ipv4: _resources_pb2.Ipv4Settings
    ipv6: _resources_pb2.Ipv6Settings
    allowed_bearers: BearerList
    connection_type: ConnectionType
    allowed_interface: str
    context_identifier: str
    source_ip_rule: bool
    allow_metered: bool
    connect_requested: bool
    def __init__(self, state: _Optional[_Union[SessionState, str]] = ..., name: _Optional[str] = ..., bearer: _Optional[str] = ..., interface: _Optional[str] = ..., service_id: _Optional[str] = ..., ipv4: _Optional[_Union[_resources_pb2.Ipv4Settings, _Mapping]] = ..., ipv6: _Optional[_Union[_resources_pb2.Ipv6Settings, _Mapping]] = ..., allowed_bearers: _Optional[_Union[BearerList, _Mapping]] = ..., connection_type: _Optional[_Union[ConnectionType, str]] = ..., allowed_interface: _Optional[str] = ..., context_identifier: _Optional[str] = ..., source_ip_rule: _Optional[bool] = ..., allow_metered: _Optional[bool] = ..., connect_requested: _Optional[bool] = ...) -> None: ...

class SessionHandover(_message.Message):
    __slots__ = ("previous_service_id", "next_service_id", "reason")
    PREVIOUS_SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    previous_service_id: str
    next_service_id: str
    reason: str
    def __init__(self, previous_service_id: _Optional[str] = ..., next_service_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SessionRelease(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class OpenSessionResponse(_message.Message):
    __slots__ = ("session_id", "update", "release", "handover")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    update: SessionUpdate
    release: SessionRelease
    handover: SessionHandover
    def __init__(self, session_id: _Optional[str] = ..., update: _Optional[_Union[SessionUpdate, _Mapping]] = ..., release: _Optional[_Union[SessionRelease, _Mapping]] = ..., handover: _Optional[_Union[SessionHandover, _Mapping]] = ...) -> None: ...

class ConnectSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ConnectSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DisconnectSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class DisconnectSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChangeSessionRequest(_message.Message):
    __slots__ = ("session_id", "settings")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    settings: SessionSettings
    def __init__(self, session_id: _Optional[str] = ..., settings: _Optional[_Union[SessionSettings, _Mapping]] = ...) -> None: ...

class ChangeSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DestroySessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class DestroySessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("session_id", "owner", "allowed_bearers", "connection_type", "state", "service_id", "context_identifier", "allowed_interface", "source_ip_rule", "allow_metered", "connect_requested")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_BEARERS_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_INTERFACE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IP_RULE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_METERED_FIELD_NUMBER: _ClassVar[int]
    CONNECT_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    owner: str
    allowed_bearers: BearerList
    connection_type: ConnectionType
    state: SessionState
    service_id: str
    context_identifier: str
    allowed_interface: str
    source_ip_rule: bool
    allow_metered: bool
    connect_requested: bool
    def __init__(self, session_id: _Optional[str] = ..., owner: _Optional[str] = ..., allowed_bearers: _Optional[_Union[BearerList, _Mapping]] = ..., connection_type: _Optional[_Union[ConnectionType, str]] = ..., state: _Optional[_Union[SessionState, str]] = ..., service_id: _Optional[str] = ..., context_identifier: _Optional[str] = ..., allowed_interface: _Optional[str] = ..., source_ip_rule: _Optional[bool] = ..., allow_metered: _Optional[bool] = ..., connect_requested: _Optional[bool] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionInfo]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionInfo, _Mapping]]] = ...) -> None: ...
