from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InputRequirement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INPUT_REQUIREMENT_UNSPECIFIED: _ClassVar[InputRequirement]
    INPUT_REQUIREMENT_MANDATORY: _ClassVar[InputRequirement]
    INPUT_REQUIREMENT_OPTIONAL: _ClassVar[InputRequirement]
    INPUT_REQUIREMENT_ALTERNATE: _ClassVar[InputRequirement]
    INPUT_REQUIREMENT_INFORMATIONAL: _ClassVar[InputRequirement]
INPUT_REQUIREMENT_UNSPECIFIED: InputRequirement
INPUT_REQUIREMENT_MANDATORY: InputRequirement
INPUT_REQUIREMENT_OPTIONAL: InputRequirement
INPUT_REQUIREMENT_ALTERNATE: InputRequirement
INPUT_REQUIREMENT_INFORMATIONAL: InputRequirement

class InputField(_message.Message):
    __slots__ = ("name", "type", "requirement", "alternates")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENT_FIELD_NUMBER: _ClassVar[int]
    ALTERNATES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    requirement: InputRequirement
    alternates: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., requirement: _Optional[_Union[InputRequirement, str]] = ..., alternates: _Optional[_Iterable[str]] = ...) -> None: ...

class InputRequest(_message.Message):
    __slots__ = ("request_id", "service_id", "fields")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    service_id: str
    fields: _containers.RepeatedCompositeFieldContainer[InputField]
    def __init__(self, request_id: _Optional[int] = ..., service_id: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[InputField, _Mapping]]] = ...) -> None: ...

class InputRequestCancelled(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    def __init__(self, request_id: _Optional[int] = ...) -> None: ...

class AgentRegistration(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class InputReply(_message.Message):
    __slots__ = ("request_id", "values", "canceled")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    CANCELED_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    values: _containers.ScalarMap[str, str]
    canceled: bool
    def __init__(self, request_id: _Optional[int] = ..., values: _Optional[_Mapping[str, str]] = ..., canceled: _Optional[bool] = ...) -> None: ...

class RegisterAgentRequest(_message.Message):
    __slots__ = ("registration", "reply")
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    registration: AgentRegistration
    reply: InputReply
    def __init__(self, registration: _Optional[_Union[AgentRegistration, _Mapping]] = ..., reply: _Optional[_Union[InputReply, _Mapping]] = ...) -> None: ...

class AgentRegistered(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentRelease(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class RegisterAgentResponse(_message.Message):
    __slots__ = ("registered", "request", "cancelled", "release")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    registered: AgentRegistered
    request: InputRequest
    cancelled: InputRequestCancelled
    release: AgentRelease
    def __init__(self, registered: _Optional[_Union[AgentRegistered, _Mapping]] = ..., request: _Optional[_Union[InputRequest, _Mapping]] = ..., cancelled: _Optional[_Union[InputRequestCancelled, _Mapping]] = ..., release: _Optional[_Union[AgentRelease, _Mapping]] = ...) -> None: ...
