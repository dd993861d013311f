import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from netpilot.v1 import resources_pb2 as _resources_pb2
from netpilot.v1 import setup_pb2 as _setup_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddressFamily(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADDRESS_FAMILY_UNSPECIFIED: _ClassVar[AddressFamily]
    ADDRESS_FAMILY_ANY: _ClassVar[AddressFamily]
    ADDRESS_FAMILY_IPV4: _ClassVar[AddressFamily]
    ADDRESS_FAMILY_IPV6: _ClassVar[AddressFamily]
ADDRESS_FAMILY_UNSPECIFIED: AddressFamily
ADDRESS_FAMILY_ANY: AddressFamily
ADDRESS_FAMILY_IPV4: AddressFamily
ADDRESS_FAMILY_IPV6: AddressFamily

class GetManagerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetManagerResponse(_message.Message):
    __slots__ = ("manager",)
    MANAGER_FIELD_NUMBER: _ClassVar[int]
    manager: _resources_pb2.Manager
    def __init__(self, manager: _Optional[_Union[_resources_pb2.Manager, _Mapping]] = ...) -> None: ...

class UpdateManagerRequest(_message.Message):
    __slots__ = ("offline_mode",)
    OFFLINE_MODE_FIELD_NUMBER: _ClassVar[int]
    offline_mode: bool
    def __init__(self, offline_mode: _Optional[bool] = ...) -> None: ...

class UpdateManagerResponse(_message.Message):
    __slots__ = ("manager",)
    MANAGER_FIELD_NUMBER: _ClassVar[int]
    manager: _resources_pb2.Manager
    def __init__(self, manager: _Optional[_Union[_resources_pb2.Manager, _Mapping]] = ...) -> None: ...

class WatchManagerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ManagerSnapshot(_message.Message):
    __slots__ = ("manager", "technologies", "services", "interfaces", "setup")
    MANAGER_FIELD_NUMBER: _ClassVar[int]
    TECHNOLOGIES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    SETUP_FIELD_NUMBER: _ClassVar[int]
    manager: _resources_pb2.Manager
    technologies: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Technology]
    services: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Service]
    interfaces: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Interface]
    setup: _setup_pb2.Setup
    def __init__(self, manager: _Optional[_Union[_resources_pb2.Manager, _Mapping]] = ..., technologies: _Optional[_Iterable[_Union[_resources_pb2.Technology, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[_resources_pb2.Service, _Mapping]]] = ..., interfaces: _Optional[_Iterable[_Union[_resources_pb2.Interface, _Mapping]]] = ..., setup: _Optional[_Union[_setup_pb2.Setup, _Mapping]] = ...) -> None: ...

class ManagerChanged(_message.Message):
    __slots__ = ("manager",)
    MANAGER_FIELD_NUMBER: _ClassVar[int]
    manager: _resources_pb2.Manager
    def __init__(self, manager: _Optional[_Union[_resources_pb2.Manager, _Mapping]] = ...) -> None: ...

class TechnologyAdded(_message.Message):
    __slots__ = ("technology",)
    TECHNOLOGY_FIELD_NUMBER: _ClassVar[int]
    technology: _resources_pb2.Technology
    def __init__(self, technology: _Optional[_Union[_resources_pb2.Technology, _Mapping]] = ...) -> None: ...

class TechnologyRemoved(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: _resources_pb2.TechnologyType
    def __init__(self, type: _Optional[_Union[_resources_pb2.TechnologyType, str]] = ...) -> None: ...

class TechnologyChanged(_message.Message):
    __slots__ = ("technology",)
    TECHNOLOGY_FIELD_NUMBER: _ClassVar[int]
    technology: _resources_pb2.Technology
    def __init__(self, technology: _Optional[_Union[_resources_pb2.Technology, _Mapping]] = ...) -> None: ...

class ServicesChanged(_message.Message):
    __slots__ = ("order", "changed", "removed")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    order: _containers.RepeatedScalarFieldContainer[str]
    changed: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Service]
    removed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, order: _Optional[_Iterable[str]] = ..., changed: _Optional[_Iterable[_Union[_resources_pb2.Service, _Mapping]]] = ..., removed: _Optional[_Iterable[str]] = ...) -> None: ...

class ServiceStateChanged(_message.Message):
    __slots__ = ("service_id", "state", "previous_state", "error")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    state: _resources_pb2.ServiceState
    previous_state: _resources_pb2.ServiceState
    error: str
    def __init__(self, service_id: _Optional[str] = ..., state: _Optional[_Union[_resources_pb2.ServiceState, str]] = ..., previous_state: _Optional[_Union[_resources_pb2.ServiceState, str]] = ..., error: _Optional[str] = ...) -> None: ...

class InterfaceChanged(_message.Message):
    __slots__ = ("interface",)
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    interface: _resources_pb2.Interface
    def __init__(self, interface: _Optional[_Union[_resources_pb2.Interface, _Mapping]] = ...) -> None: ...

class InterfaceRemoved(_message.Message):
    __slots__ = ("name", "index")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    index: int
    def __init__(self, name: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class ConnectivityChanged(_message.Message):
    __slots__ = ("family", "connected", "interface")
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    family: AddressFamily
    connected: bool
    interface: str
    def __init__(self, family: _Optional[_Union[AddressFamily, str]] = ..., connected: _Optional[bool] = ..., interface: _Optional[str] = ...) -> None: ...

class InputRequired(_message.Message):
    __slots__ = ("service_id", "fields")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_id: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class ConnectTimedOut(_message.Message):
    __slots__ = ("service_id", "timeout")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    timeout: _duration_pb2.Duration
    def __init__(self, service_id: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class IdleTimedOut(_message.Message):
    __slots__ = ("service_id", "idle_timeout")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    idle_timeout: _duration_pb2.Duration
    def __init__(self, service_id: _Optional[str] = ..., idle_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CaptivePortalDetected(_message.Message):
    __slots__ = ("service_id", "url")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    url: str
    def __init__(self, service_id: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class WatchManagerResponse(_message.Message):
    __slots__ = ("snapshot", "manager_changed", "technology_added", "technology_removed", "technology_changed", "services_changed", "service_state_changed", "interface_changed", "interface_removed", "connectivity_changed", "input_required", "connect_timed_out", "captive_portal_detected", "idle_timed_out", "setup_changed", "setup_client_joined", "setup_credentials_submitted")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    MANAGER_CHANGED_FIELD_NUMBER: _ClassVar[int]
    TECHNOLOGY_ADDED_FIELD_NUMBER: _ClassVar[int]
    TECHNOLOGY_REMOVED_FIELD_NUMBER: _ClassVar[int]
    TECHNOLOGY_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SERVICES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SERVICE_STATE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_REMOVED_FIELD_NUMBER: _ClassVar[int]
    CONNECTIVITY_CHANGED_FIELD_NUMBER: _ClassVar[int]
    INPUT_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    CAPTIVE_PORTAL_DETECTED_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    SETUP_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SETUP_CLIENT_JOINED_FIELD_NUMBER: _ClassVar[int]
    SETUP_CREDENTIALS_SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    snapshot: ManagerSnapshot
    manager_changed: ManagerChanged
    technology_added: TechnologyAdded
    technology_removed: TechnologyRemoved
    technology_changed: TechnologyChanged
    services_changed: ServicesChanged
    service_state_changed: ServiceStateChanged
    interface_changed: InterfaceChanged
    interface_removed: InterfaceRemoved
    connectivity_changed: ConnectivityChanged
    input_required: InputRequired
    connect_timed_out: ConnectTimedOut
    captive_portal_detected: CaptivePortalDetected
    idle_timed_out: IdleTimedOut
    setup_changed: _setup_pb2.SetupChanged
    setup_client_joined: _setup_pb2.SetupClientJoined
    setup_credentials_submitted: _setup_pb2.SetupCredentialsSubmitted
    def __init__(self, snapshot: _Optional[_Union[ManagerSnapshot, _Mapping]] = ..., manager_changed: _Optional[_Union[ManagerChanged, _Mapping]] = ..., technology_added: _Optional[_Union[TechnologyAdded, _Mapping]] = ..., technology_removed: _Optional[_Union[TechnologyRemoved, _Mapping]] = ..., technology_changed: _Optional[_Union[TechnologyChanged, _Mapping]] = ..., services_changed: _Optional[_Union[ServicesChanged, _Mapping]] = ..., service_state_changed: _Optional[_Union[ServiceStateChanged, _Mapping]] = ..., interface_changed: _Optional[_Union[InterfaceChanged, _Mapping]] = ..., interface_removed: _Optional[_Union[InterfaceRemoved, _Mapping]] = ..., connectivity_changed: _Optional[_Union[ConnectivityChanged, _Mapping]] = ..., input_required: _Optional[_Union[InputRequired, _Mapping]] = ..., connect_timed_out: _Optional[_Union[ConnectTimedOut, _Mapping]] = ..., captive_portal_detected: _Optional[_Union[CaptivePortalDetected, _Mapping]] = ..., idle_timed_out: _Optional[_Union[IdleTimedOut, _Mapping]] = ..., setup_changed: _Optional[_Union[_setup_pb2.SetupChanged, _Mapping]] = ..., setup_client_joined: _Optional[_Union[_setup_pb2.SetupClientJoined, _Mapping]] = ..., setup_credentials_submitted: _Optional[_Union[_setup_pb2.SetupCredentialsSubmitted, _Mapping]] = ...) -> None: ...

class ListTechnologiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTechnologiesResponse(_message.Message):
    __slots__ = ("technologies",)
    TECHNOLOGIES_FIELD_NUMBER: _ClassVar[int]
    technologies: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Technology]
    def __init__(self, technologies: _Optional[_Iterable[_Union[_resources_pb2.Technology, _Mapping]]] = ...) -> None: ...

class GetTechnologyRequest(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: _resources_pb2.TechnologyType
    def __init__(self, type: _Optional[_Union[_resources_pb2.TechnologyType, str]] = ...) -> None: ...

class GetTechnologyResponse(_message.Message):
    __slots__ = ("technology",)
    TECHNOLOGY_FIELD_NUMBER: _ClassVar[int]
    technology: _resources_pb2.Technology
    def __init__(self, technology: _Optional[_Union[_resources_pb2.Technology, _Mapping]] = ...) -> None: ...

class UpdateTechnologyRequest(_message.Message):
    __slots__ = ("type", "powered", "tethering", "tethering_identifier", "tethering_passphrase", "country", "ignored")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    POWERED_FIELD_NUMBER: _ClassVar[int]
    TETHERING_FIELD_NUMBER: _ClassVar[int]
    TETHERING_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TETHERING_PASSPHRASE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    type: _resources_pb2.TechnologyType
    powered: bool
    tethering: bool
    tethering_identifier: str
    tethering_passphrase: str
    country: str
    ignored: bool
    def __init__(self, type: _Optional[_Union[_resources_pb2.TechnologyType, str]] = ..., powered: _Optional[bool] = ..., tethering: _Optional[bool] = ..., tethering_identifier: _Optional[str] = ..., tethering_passphrase: _Optional[str] = ..., country: _Optional[str] = ..., ignored: _Optional[bool] = ...) -> None: ...

class UpdateTechnologyResponse(_message.Message):
    __slots__ = ("technology",)
    TECHNOLOGY_FIELD_NUMBER: _ClassVar[int]
    technology: _resources_pb2.Technology
    def __init__(self, technology: _Optional[_Union[_resources_pb2.Technology, _Mapping]] = ...) -> None: ...

class ScanTechnologyRequest(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: _resources_pb2.TechnologyType
    def __init__(self, type: _Optional[_Union[_resources_pb2.TechnologyType, str]] = ...) -> None: ...

class ScanTechnologyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Service]
    def __init__(self, services: _Optional[_Iterable[_Union[_resources_pb2.Service, _Mapping]]] = ...) -> None: ...

class GetServiceRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class GetServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: _resources_pb2.Service
    def __init__(self, service: _Optional[_Union[_resources_pb2.Service, _Mapping]] = ...) -> None: ...

class Credentials(_message.Message):
    __slots__ = ("passphrase", "identity", "ssid", "password", "private_key_passphrase")
    PASSPHRASE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    SSID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_KEY_PASSPHRASE_FIELD_NUMBER: _ClassVar[int]
    passphrase: str
    identity: str
    ssid: str
    password: str
    private_key_passphrase: str
    def __init__(self, passphrase: _Optional[str] = ..., identity: _Optional[str] = ..., ssid: _Optional[str] = ..., password: _Optional[str] = ..., private_key_passphrase: _Optional[str] = ...) -> None: ...

class ConnectServiceRequest(_message.Message):
    __slots__ = ("service_id", "timeout", "credentials")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    timeout: _duration_pb2.Duration
    credentials: Credentials
    def __init__(self, service_id: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., credentials: _Optional[_Union[Credentials, _Mapping]] = ...) -> None: ...

class ConnectServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: _resources_pb2.Service
    def __init__(self, service: _Optional[_Union[_resources_pb2.Service, _Mapping]] = ...) -> None: ...

class DisconnectServiceRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class DisconnectServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveServiceRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class RemoveServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MoveServiceRequest(_message.Message):
    __slots__ = ("service_id", "before", "after")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    before: str
    after: str
    def __init__(self, service_id: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ...) -> None: ...

class MoveServiceResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Service]
    def __init__(self, services: _Optional[_Iterable[_Union[_resources_pb2.Service, _Mapping]]] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("service", "update_mask")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    service: _resources_pb2.Service
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, service: _Optional[_Union[_resources_pb2.Service, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: _resources_pb2.Service
    def __init__(self, service: _Optional[_Union[_resources_pb2.Service, _Mapping]] = ...) -> None: ...

class ReportConnectivityRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class ReportConnectivityResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConnectAllRequest(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: _resources_pb2.TechnologyType
    def __init__(self, type: _Optional[_Union[_resources_pb2.TechnologyType, str]] = ...) -> None: ...

class ConnectAllResponse(_message.Message):
    __slots__ = ("service_ids",)
    SERVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    service_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DisconnectAllRequest(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: _resources_pb2.TechnologyType
    def __init__(self, type: _Optional[_Union[_resources_pb2.TechnologyType, str]] = ...) -> None: ...

class DisconnectAllResponse(_message.Message):
    __slots__ = ("service_ids",)
    SERVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    service_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListInterfacesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInterfacesResponse(_message.Message):
    __slots__ = ("interfaces",)
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    interfaces: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Interface]
    def __init__(self, interfaces: _Optional[_Iterable[_Union[_resources_pb2.Interface, _Mapping]]] = ...) -> None: ...

class GetInterfaceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetInterfaceResponse(_message.Message):
    __slots__ = ("interface",)
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    interface: _resources_pb2.Interface
    def __init__(self, interface: _Optional[_Union[_resources_pb2.Interface, _Mapping]] = ...) -> None: ...

class UpdateInterfaceRequest(_message.Message):
    __slots__ = ("name", "ignored")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    name: str
    ignored: bool
    def __init__(self, name: _Optional[str] = ..., ignored: _Optional[bool] = ...) -> None: ...

class UpdateInterfaceResponse(_message.Message):
    __slots__ = ("interface",)
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    interface: _resources_pb2.Interface
    def __init__(self, interface: _Optional[_Union[_resources_pb2.Interface, _Mapping]] = ...) -> None: ...
