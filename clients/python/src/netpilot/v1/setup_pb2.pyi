from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccessPointState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_POINT_STATE_UNSPECIFIED: _ClassVar[AccessPointState]
    ACCESS_POINT_STATE_CLOSED: _ClassVar[AccessPointState]
    ACCESS_POINT_STATE_OPENING: _ClassVar[AccessPointState]
    ACCESS_POINT_STATE_OPEN: _ClassVar[AccessPointState]

class AccessPointRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_POINT_ROLE_UNSPECIFIED: _ClassVar[AccessPointRole]
    ACCESS_POINT_ROLE_SETUP: _ClassVar[AccessPointRole]
    ACCESS_POINT_ROLE_TETHERING: _ClassVar[AccessPointRole]
ACCESS_POINT_STATE_UNSPECIFIED: AccessPointState
ACCESS_POINT_STATE_CLOSED: AccessPointState
ACCESS_POINT_STATE_OPENING: AccessPointState
ACCESS_POINT_STATE_OPEN: AccessPointState
ACCESS_POINT_ROLE_UNSPECIFIED: AccessPointRole
ACCESS_POINT_ROLE_SETUP: AccessPointRole
ACCESS_POINT_ROLE_TETHERING: AccessPointRole

class SetupAttempt(_message.Message):
    __slots__ = ("service_id", "name", "phase", "error", "message")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    name: str
    phase: str
    error: str
    message: str
    def __init__(self, service_id: _Optional[str] = ..., name: _Optional[str] = ..., phase: _Optional[str] = ..., error: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Setup(_message.Message):
    __slots__ = ("state", "role", "reason", "mode", "ssid", "interface", "address", "frequency", "portal_url", "clients", "concurrent", "error", "attempt")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SSID_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    PORTAL_URL_FIELD_NUMBER: _ClassVar[int]
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    state: AccessPointState
    role: AccessPointRole
    reason: str
    mode: str
    ssid: str
    interface: str
    address: str
    frequency: int
    portal_url: str
    clients: _containers.RepeatedScalarFieldContainer[str]
    concurrent: bool
    error: str
    attempt: SetupAttempt
    def __init__(self, state: _Optional[_Union[AccessPointState, str]] = ..., role: _Optional[_Union[AccessPointRole, str]] = ..., reason: _Optional[str] = ..., mode: _Optional[str] = ..., ssid: _Optional[str] = ..., interface: _Optional[str] = ..., address: _Optional[str] = ..., frequency: _Optional[int] = ..., portal_url: _Optional[str] = ..., clients: _Optional[_Iterable[str]] = ..., concurrent: _Optional[bool] = ..., error: _Optional[str] = ..., attempt: _Optional[_Union[SetupAttempt, _Mapping]] = ...) -> None: ...

class GetSetupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSetupResponse(_message.Message):
    __slots__ = ("setup",)
    SETUP_FIELD_NUMBER: _ClassVar[int]
    setup: Setup
    def __init__(self, setup: _Optional[_Union[Setup, _Mapping]] = ...) -> None: ...

class StartSetupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StartSetupResponse(_message.Message):
    __slots__ = ("setup",)
    SETUP_FIELD_NUMBER: _ClassVar[int]
    setup: Setup
    def __init__(self, setup: _Optional[_Union[Setup, _Mapping]] = ...) -> None: ...

class StopSetupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopSetupResponse(_message.Message):
    __slots__ = ("setup",)
    SETUP_FIELD_NUMBER: _ClassVar[int]
    setup: Setup
    def __init__(self, setup: _Optional[_Union[Setup, _Mapping]] = ...) -> None: ...

class SetupChanged(_message.Message):
    __slots__ = ("setup",)
    SETUP_FIELD_NUMBER: _ClassVar[int]
    setup: Setup
    def __init__(self, setup: _Optional[_Union[Setup, _Mapping]] = ...) -> None: ...

class SetupClientJoined(_message.Message):
    __slots__ = ("mac",)
    MAC_FIELD_NUMBER: _ClassVar[int]
    mac: str
    def __init__(self, mac: _Optional[str] = ...) -> None: ...

class SetupCredentialsSubmitted(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...
