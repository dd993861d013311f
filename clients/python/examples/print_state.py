"""Prints the manager state and the services, preferred first."""
from netpilot import Client
from netpilot.v1.resources_pb2 import ManagerState, ServiceState

with Client() as client:  # $NETPILOT_SOCKET, else /run/netpilot/netpilot.sock
    print("state:", ManagerState.Name(client.get_manager().state))
    for service in client.services():
        state = ServiceState.Name(service.state)
        print(service.id, state, service.ethernet.interface, service.ipv4.address)
