// Command state prints the services, preferred first.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/netpilot/netpilot/clients/go/netpilot"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := netpilot.Dial(ctx) // $NETPILOT_SOCKET, else /run/netpilot/netpilot.sock
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	services, err := client.Services(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range services {
		fmt.Println(s.GetId(), s.GetState(), s.GetEthernet().GetInterface())
	}
}
