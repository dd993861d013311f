// Prints the services, preferred first.
#include <iostream>

#include <netpilot/client.h>

int main() {
  netpilot::Client client;  // $NETPILOT_SOCKET, else /run/netpilot/netpilot.sock
  for (const auto& service : client.Services()) {
    std::cout << service.id() << ' ' << netpilot::v1::ServiceState_Name(service.state()) << ' '
              << service.ethernet().interface() << '\n';
  }
}
