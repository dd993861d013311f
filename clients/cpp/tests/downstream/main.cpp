// Builds against the installed headers and library; runs without a daemon.
#include <iostream>

#include <netpilot/client.h>

int main() {
  netpilot::v1::OpenSessionRequest request;
  request.mutable_settings()->set_connection_type(netpilot::v1::CONNECTION_TYPE_LOCAL);
  std::cout << netpilot::ResolveTarget("/run/netpilot/netpilot.sock") << ' '
            << netpilot::v1::ConnectionType_Name(request.settings().connection_type()) << '\n';
}
