import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TechnologyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TECHNOLOGY_TYPE_UNSPECIFIED: _ClassVar[TechnologyType]
    TECHNOLOGY_TYPE_ETHERNET: _ClassVar[TechnologyType]
    TECHNOLOGY_TYPE_WIFI: _ClassVar[TechnologyType]
    TECHNOLOGY_TYPE_BLUETOOTH: _ClassVar[TechnologyType]
    TECHNOLOGY_TYPE_CELLULAR: _ClassVar[TechnologyType]

class ManagerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MANAGER_STATE_UNSPECIFIED: _ClassVar[ManagerState]
    MANAGER_STATE_OFFLINE: _ClassVar[ManagerState]
    MANAGER_STATE_IDLE: _ClassVar[ManagerState]
    MANAGER_STATE_READY: _ClassVar[ManagerState]
    MANAGER_STATE_ONLINE: _ClassVar[ManagerState]

class ServiceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVICE_STATE_UNSPECIFIED: _ClassVar[ServiceState]
    SERVICE_STATE_IDLE: _ClassVar[ServiceState]
    SERVICE_STATE_ASSOCIATION: _ClassVar[ServiceState]
    SERVICE_STATE_CONFIGURATION: _ClassVar[ServiceState]
    SERVICE_STATE_READY: _ClassVar[ServiceState]
    SERVICE_STATE_ONLINE: _ClassVar[ServiceState]
    SERVICE_STATE_DISCONNECT: _ClassVar[ServiceState]
    SERVICE_STATE_FAILURE: _ClassVar[ServiceState]

class Security(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SECURITY_UNSPECIFIED: _ClassVar[Security]
    SECURITY_NONE: _ClassVar[Security]
    SECURITY_WEP: _ClassVar[Security]
    SECURITY_PSK: _ClassVar[Security]
    SECURITY_IEEE8021X: _ClassVar[Security]
    SECURITY_WPS: _ClassVar[Security]
    SECURITY_SAE: _ClassVar[Security]

class EapMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EAP_METHOD_UNSPECIFIED: _ClassVar[EapMethod]
    EAP_METHOD_PEAP: _ClassVar[EapMethod]
    EAP_METHOD_TTLS: _ClassVar[EapMethod]
    EAP_METHOD_TLS: _ClassVar[EapMethod]

class EapPhase2(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EAP_PHASE2_UNSPECIFIED: _ClassVar[EapPhase2]
    EAP_PHASE2_MSCHAPV2: _ClassVar[EapPhase2]
    EAP_PHASE2_PAP: _ClassVar[EapPhase2]
    EAP_PHASE2_GTC: _ClassVar[EapPhase2]

class Ipv4Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IPV4_METHOD_UNSPECIFIED: _ClassVar[Ipv4Method]
    IPV4_METHOD_DHCP: _ClassVar[Ipv4Method]
    IPV4_METHOD_MANUAL: _ClassVar[Ipv4Method]
    IPV4_METHOD_OFF: _ClassVar[Ipv4Method]
    IPV4_METHOD_FIXED: _ClassVar[Ipv4Method]

class Ipv6Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IPV6_METHOD_UNSPECIFIED: _ClassVar[Ipv6Method]
    IPV6_METHOD_AUTO: _ClassVar[Ipv6Method]
    IPV6_METHOD_MANUAL: _ClassVar[Ipv6Method]
    IPV6_METHOD_OFF: _ClassVar[Ipv6Method]
    IPV6_METHOD_FIXED: _ClassVar[Ipv6Method]
TECHNOLOGY_TYPE_UNSPECIFIED: TechnologyType
TECHNOLOGY_TYPE_ETHERNET: TechnologyType
TECHNOLOGY_TYPE_WIFI: TechnologyType
TECHNOLOGY_TYPE_BLUETOOTH: TechnologyType
TECHNOLOGY_TYPE_CELLULAR: TechnologyType
MANAGER_STATE_UNSPECIFIED: ManagerState
MANAGER_STATE_OFFLINE: ManagerState
MANAGER_STATE_IDLE: ManagerState
MANAGER_STATE_READY: ManagerState
MANAGER_STATE_ONLINE: ManagerState
SERVICE_STATE_UNSPECIFIED: ServiceState
SERVICE_STATE_IDLE: ServiceState
SERVICE_STATE_ASSOCIATION: ServiceState
SERVICE_STATE_CONFIGURATION: ServiceState
SERVICE_STATE_READY: ServiceState
SERVICE_STATE_ONLINE: ServiceState
SERVICE_STATE_DISCONNECT: ServiceState
SERVICE_STATE_FAILURE: ServiceState
SECURITY_UNSPECIFIED: Security
SECURITY_NONE: Security
SECURITY_WEP: Security
SECURITY_PSK: Security
SECURITY_IEEE8021X: Security
SECURITY_WPS: Security
SECURITY_SAE: Security
EAP_METHOD_UNSPECIFIED: EapMethod
EAP_METHOD_PEAP: EapMethod
EAP_METHOD_TTLS: EapMethod
EAP_METHOD_TLS: EapMethod
EAP_PHASE2_UNSPECIFIED: EapPhase2
EAP_PHASE2_MSCHAPV2: EapPhase2
EAP_PHASE2_PAP: EapPhase2
EAP_PHASE2_GTC: EapPhase2
IPV4_METHOD_UNSPECIFIED: Ipv4Method
IPV4_METHOD_DHCP: Ipv4Method
IPV4_METHOD_MANUAL: Ipv4Method
IPV4_METHOD_OFF: Ipv4Method
IPV4_METHOD_FIXED: Ipv4Method
IPV6_METHOD_UNSPECIFIED: Ipv6Method
IPV6_METHOD_AUTO: Ipv6Method
IPV6_METHOD_MANUAL: Ipv6Method
IPV6_METHOD_OFF: Ipv6Method
IPV6_METHOD_FIXED: Ipv6Method

class EapSettings(_message.Message):
    __slots__ = ("method", "phase2", "ca_cert", "client_cert", "private_key", "anonymous_identity", "domain_match")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PHASE2_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_CERT_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_KEY_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_MATCH_FIELD_NUMBER: _ClassVar[int]
    method: EapMethod
    phase2: EapPhase2
    ca_cert: str
    client_cert: str
    private_key: str
    anonymous_identity: str
    domain_match: str
    def __init__(self, method: _Optional[_Union[EapMethod, str]] = ..., phase2: _Optional[_Union[EapPhase2, str]] = ..., ca_cert: _Optional[str] = ..., client_cert: _Optional[str] = ..., private_key: _Optional[str] = ..., anonymous_identity: _Optional[str] = ..., domain_match: _Optional[str] = ...) -> None: ...

class Manager(_message.Message):
    __slots__ = ("state", "offline_mode", "connectivity")
    STATE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_MODE_FIELD_NUMBER: _ClassVar[int]
    CONNECTIVITY_FIELD_NUMBER: _ClassVar[int]
    state: ManagerState
    offline_mode: bool
    connectivity: Connectivity
    def __init__(self, state: _Optional[_Union[ManagerState, str]] = ..., offline_mode: _Optional[bool] = ..., connectivity: _Optional[_Union[Connectivity, _Mapping]] = ...) -> None: ...

class Connectivity(_message.Message):
    __slots__ = ("any", "ipv4", "ipv6")
    ANY_FIELD_NUMBER: _ClassVar[int]
    IPV4_FIELD_NUMBER: _ClassVar[int]
    IPV6_FIELD_NUMBER: _ClassVar[int]
    any: bool
    ipv4: bool
    ipv6: bool
    def __init__(self, any: _Optional[bool] = ..., ipv4: _Optional[bool] = ..., ipv6: _Optional[bool] = ...) -> None: ...

class Technology(_message.Message):
    __slots__ = ("type", "name", "powered", "connected", "tethering", "tethering_identifier", "country", "available", "ignored")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POWERED_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    TETHERING_FIELD_NUMBER: _ClassVar[int]
    TETHERING_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    type: TechnologyType
    name: str
    powered: bool
    connected: bool
    tethering: bool
    tethering_identifier: str
    country: str
    available: bool
    ignored: bool
    def __init__(self, type: _Optional[_Union[TechnologyType, str]] = ..., name: _Optional[str] = ..., powered: _Optional[bool] = ..., connected: _Optional[bool] = ..., tethering: _Optional[bool] = ..., tethering_identifier: _Optional[str] = ..., country: _Optional[str] = ..., available: _Optional[bool] = ..., ignored: _Optional[bool] = ...) -> None: ...

class Ipv4Settings(_message.Message):
    __slots__ = ("method", "address", "prefix_length", "gateway")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    method: Ipv4Method
    address: str
    prefix_length: int
    gateway: str
    def __init__(self, method: _Optional[_Union[Ipv4Method, str]] = ..., address: _Optional[str] = ..., prefix_length: _Optional[int] = ..., gateway: _Optional[str] = ...) -> None: ...

class Ipv6Settings(_message.Message):
    __slots__ = ("method", "address", "prefix_length", "gateway")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    method: Ipv6Method
    address: str
    prefix_length: int
    gateway: str
    def __init__(self, method: _Optional[_Union[Ipv6Method, str]] = ..., address: _Optional[str] = ..., prefix_length: _Optional[int] = ..., gateway: _Optional[str] = ...) -> None: ...

class Proxy(_message.Message):
    __slots__ = ("method", "url", "servers", "excludes")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDES_FIELD_NUMBER: _ClassVar[int]
    method: str
    url: str
    servers: _containers.RepeatedScalarFieldContainer[str]
    excludes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, method: _Optional[str] = ..., url: _Optional[str] = ..., servers: _Optional[_Iterable[str]] = ..., excludes: _Optional[_Iterable[str]] = ...) -> None: ...

class Ethernet(_message.Message):
    __slots__ = ("interface", "address", "mtu")
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    interface: str
    address: str
    mtu: int
    def __init__(self, interface: _Optional[str] = ..., address: _Optional[str] = ..., mtu: _Optional[int] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("id", "name", "type", "state", "error", "security", "strength", "favorite", "immutable", "autoconnect", "roaming", "ipv4", "ipv4_config", "ipv6", "ipv6_config", "nameservers", "nameservers_config", "timeservers", "timeservers_config", "domains", "domains_config", "proxy", "proxy_config", "ethernet", "route_metric", "captive_portal_url", "managed", "ssid", "frequency", "bss_count", "hidden", "passphrase_set", "identity_set", "password_set", "eap_config", "connect_timeout", "idle_timeout", "admin_down_on_timeout", "metered")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    FAVORITE_FIELD_NUMBER: _ClassVar[int]
    IMMUTABLE_FIELD_NUMBER: _ClassVar[int]
    AUTOCONNECT_FIELD_NUMBER: _ClassVar[int]
    ROAMING_FIELD_NUMBER: _ClassVar[int]
    IPV4_FIELD_NUMBER: _ClassVar[int]
    IPV4_CONFIG_FIELD_NUMBER: _ClassVar[int]
    IPV6_FIELD_NUMBER: _ClassVar[int]
    IPV6_CONFIG_FIELD_NUMBER: _ClassVar[int]
    NAMESERVERS_FIELD_NUMBER: _ClassVar[int]
    NAMESERVERS_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TIMESERVERS_FIELD_NUMBER: _ClassVar[int]
    TIMESERVERS_CONFIG_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_CONFIG_FIELD_NUMBER: _ClassVar[int]
    PROXY_FIELD_NUMBER: _ClassVar[int]
    PROXY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    ETHERNET_FIELD_NUMBER: _ClassVar[int]
    ROUTE_METRIC_FIELD_NUMBER: _ClassVar[int]
    CAPTIVE_PORTAL_URL_FIELD_NUMBER: _ClassVar[int]
    MANAGED_FIELD_NUMBER: _ClassVar[int]
    SSID_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    BSS_COUNT_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    PASSPHRASE_SET_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_SET_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_SET_FIELD_NUMBER: _ClassVar[int]
    EAP_CONFIG_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ADMIN_DOWN_ON_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    METERED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: TechnologyType
    state: ServiceState
    error: str
    security: _containers.RepeatedScalarFieldContainer[Security]
    strength: int
    favorite: bool
    immutable: bool
    autoconnect: bool
    roaming: bool
    ipv4: Ipv4Settings
    ipv4_config: Ipv4Settings
    ipv6: Ipv6Settings
    ipv6_config: Ipv6Settings
    nameservers: _containers.RepeatedScalarFieldContainer[str]
    nameservers_config: _containers.RepeatedScalarFieldContainer[str]
    timeservers: _containers.RepeatedScalarFieldContainer[str]
    timeservers_config: _containers.RepeatedScalarFieldContainer[str]
    domains: _containers.RepeatedScalarFieldContainer[str]
    domains_config: _containers.RepeatedScalarFieldContainer[str]
    proxy: Proxy
    proxy_config: Proxy
    ethernet: Ethernet
    route_metric: int
    captive_portal_url: str
    managed: bool
    ssid: bytes
    frequency: int
    bss_count: int
    hidden: bool
    passphrase_set: bool
    identity_set: bool
    password_set: bool
    eap_config: EapSettings
    connect_timeout: _duration_pb2.Duration
    idle_timeout: _duration_pb2.Duration
    admin_down_on_timeout: bool
    metered: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[TechnologyType, str]] = ..., state: _Optional[_Union[ServiceState, str]] = ..., error: _Optional[str] = ..., security: _Optional[_Iterable[_Union[Security, str]]] = ..., strength: _Optional[int] = ..., favorite: _Optional[bool] = ..., immutable: _Optional[bool] = ..., autoconnect: _Optional[bool] = ..., roaming: _Optional[bool] = ..., ipv4: _Optional[_Union[Ipv4Settings, _Mapping]] = ..., ipv4_config: _Optional[_Union[Ipv4Settings, _Mapping]] = ..., ipv6: _Optional[_Union[Ipv6Settings, _Mapping]] = ..., ipv6_config: _Optional[_Union[Ipv6Settings, _Mapping]] = ..., nameservers: _Optional[_Iterable[str]] = ..., nameservers_config: _Optional[_Iterable[str]] = ..., timeservers: _Optional[_Iterable[str]] = ..., timeservers_config: _Optional[_Iterable[str]] = ..., domains: _Optional[_Iterable[str]] = ..., domains_config: _Optional[_Iterable[str]] = ..., proxy: _Optional[_Union[Proxy, _Mapping]] = ..., proxy_config: _Optional[_Union[Proxy, _Mapping]] = ..., ethernet: _Optional[_Union[Ethernet, _Mapping]] = ..., route_metric: _Optional[int] = ..., captive_portal_url: _Optional[str] = ..., managed: _Optional[bool] = ..., ssid: _Optional[bytes] = ..., frequency: _Optional[int] = ..., bss_count: _Optional[int] = ..., hidden: _Optional[bool] = ..., passphrase_set: _Optional[bool] = ..., identity_set: _Optional[bool] = ..., password_set: _Optional[bool] = ..., eap_config: _Optional[_Union[EapSettings, _Mapping]] = ..., connect_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., idle_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., admin_down_on_timeout: _Optional[bool] = ..., metered: _Optional[bool] = ...) -> None: ...

class InterfaceAddress(_message.Message):
    __slots__ = ("address", "prefix_length", "scope", "tentative")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TENTATIVE_FIELD_NUMBER: _ClassVar[int]
    address: str
    prefix_length: int
    scope: str
    tentative: bool
    def __init__(self, address: _Optional[str] = ..., prefix_length: _Optional[int] = ..., scope: _Optional[str] = ..., tentative: _Optional[bool] = ...) -> None: ...

class Interface(_message.Message):
    __slots__ = ("name", "index", "mac", "kind", "admin_up", "oper_up", "mtu", "addresses", "ready", "ready_ipv4", "ready_ipv6", "ignored", "service_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ADMIN_UP_FIELD_NUMBER: _ClassVar[int]
    OPER_UP_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    READY_IPV4_FIELD_NUMBER: _ClassVar[int]
    READY_IPV6_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    index: int
    mac: str
    kind: str
    admin_up: bool
    oper_up: bool
    mtu: int
    addresses: _containers.RepeatedCompositeFieldContainer[InterfaceAddress]
    ready: bool
    ready_ipv4: bool
    ready_ipv6: bool
    ignored: bool
    service_id: str
    def __init__(self, name: _Optional[str] = ..., index: _Optional[int] = ..., mac: _Optional[str] = ..., kind: _Optional[str] = ..., admin_up: _Optional[bool] = ..., oper_up: _Optional[bool] = ..., mtu: _Optional[int] = ..., addresses: _Optional[_Iterable[_Union[InterfaceAddress, _Mapping]]] = ..., ready: _Optional[bool] = ..., ready_ipv4: _Optional[bool] = ..., ready_ipv6: _Optional[bool] = ..., ignored: _Optional[bool] = ..., service_id: _Optional[str] = ...) -> None: ...
