// Package netpilot is a Go client for netpilotd, the netpilot connection manager.
//
// Dial connects over the daemon's Unix socket (or a gRPC target, or mutual TLS); the
// generated API is in package netpilotv1, and the Client exposes its service clients for
// calls that have no helper here.
package netpilot

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/netpilot/netpilot/clients/go/netpilotv1"
)

// DefaultSocket is the daemon's standard Unix socket.
const DefaultSocket = "/run/netpilot/netpilot.sock"

// SocketEnv names the environment variable that overrides DefaultSocket.
const SocketEnv = "NETPILOT_SOCKET"

// Client is a connection to netpilotd. Close it when done.
type Client struct {
	conn *grpc.ClientConn
	// Manager is the generated ManagerService client.
	Manager pb.ManagerServiceClient
	// Sessions is the generated SessionService client.
	Sessions pb.SessionServiceClient
	// Agent is the generated AgentService client.
	Agent pb.AgentServiceClient
}

type options struct {
	target string
	creds  credentials.TransportCredentials
	err    error
	extra  []grpc.DialOption
}

// Option configures Dial.
type Option func(*options)

// WithSocket connects to the daemon's Unix socket at path.
func WithSocket(path string) Option {
	return func(o *options) { o.target = "unix://" + path }
}

// WithTarget connects to a gRPC target such as "127.0.0.1:50051" (the daemon's plain TCP
// listener, loopback only) or "dns:///robot.example:50052".
func WithTarget(target string) Option {
	return func(o *options) { o.target = target }
}

// WithMTLS uses mutual TLS: caFile is the PEM CA that signed the daemon's certificate,
// certFile and keyFile are this client's PEM certificate chain and private key.
func WithMTLS(caFile, certFile, keyFile string) Option {
	return func(o *options) {
		cfg, err := MTLSConfig(caFile, certFile, keyFile)
		if err != nil {
			o.err = err
			return
		}
		o.creds = credentials.NewTLS(cfg)
	}
}

// WithDialOptions adds grpc-go dial options, e.g. interceptors.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.extra = append(o.extra, opts...) }
}

// MTLSConfig builds the TLS configuration that WithMTLS uses.
func MTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("netpilot: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("netpilot: CA %s: no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("netpilot: client certificate: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// DefaultTarget is the target Dial uses without WithSocket or WithTarget: the socket in
// $NETPILOT_SOCKET, else DefaultSocket.
func DefaultTarget() string {
	path := os.Getenv(SocketEnv)
	if path == "" {
		path = DefaultSocket
	}
	return "unix://" + path
}

// Dial connects to netpilotd, by default over its Unix socket, and checks within ctx that
// the daemon answers (grpc.health.v1).
func Dial(ctx context.Context, opts ...Option) (*Client, error) {
	o := options{target: DefaultTarget(), creds: insecure.NewCredentials()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	dialOpts := append([]grpc.DialOption{grpc.WithTransportCredentials(o.creds)}, o.extra...)
	if strings.HasPrefix(o.target, "unix:") {
		// The daemon's HTTP/2 stack wants a host name as authority, not a path.
		dialOpts = append(dialOpts, grpc.WithAuthority("localhost"))
	}
	conn, err := grpc.NewClient(o.target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("netpilot: %s: %w", o.target, err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("netpilot: %s: %w", o.target, err)
	}
	return &Client{
		conn:     conn,
		Manager:  pb.NewManagerServiceClient(conn),
		Sessions: pb.NewSessionServiceClient(conn),
		Agent:    pb.NewAgentServiceClient(conn),
	}, nil
}

// Close closes the connection; open streams end.
func (c *Client) Close() error { return c.conn.Close() }

// GetManager returns the manager: overall state, offline mode, L4 connectivity.
func (c *Client) GetManager(ctx context.Context) (*pb.Manager, error) {
	r, err := c.Manager.GetManager(ctx, &pb.GetManagerRequest{})
	return r.GetManager(), err
}

// Services returns all services in service order, the preferred first.
func (c *Client) Services(ctx context.Context) ([]*pb.Service, error) {
	r, err := c.Manager.ListServices(ctx, &pb.ListServicesRequest{})
	return r.GetServices(), err
}

// ListSessions returns the open sessions with their owners, oldest first.
func (c *Client) ListSessions(ctx context.Context) ([]*pb.SessionInfo, error) {
	r, err := c.Sessions.ListSessions(ctx, &pb.ListSessionsRequest{})
	return r.GetSessions(), err
}

// FieldViolations returns the field -> description pairs of the google.rpc.BadRequest
// detail in a gRPC error, or nil.
func FieldViolations(err error) map[string]string {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var out map[string]string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if out == nil {
					out = map[string]string{}
				}
				out[v.GetField()] = v.GetDescription()
			}
		}
	}
	return out
}

// errAfterRelease reports a daemon that broke the contract "nothing follows a release".
var errAfterRelease = errors.New("netpilot: a message followed the session release")
