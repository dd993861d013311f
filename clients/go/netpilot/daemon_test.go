package netpilot

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/netpilot/netpilot/clients/go/netpilotv1"
)

// deadline bounds every wait in these tests.
const deadline = 15 * time.Second

const badField = "settings.allowed_bearers.bearers[0]"

// env returns a variable that clients/testbed.sh exports; it fails (never skips) without.
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests through clients/testbed.sh (make clients-test)", name)
	}
	return v
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// setFields names the fields an update sets, in field-number order. Range visits them in
// an undefined order (the protoreflect docs; Go's implementation randomizes it), so they
// are sorted here.
func setFields(u *pb.SessionUpdate) []string {
	var fields []protoreflect.FieldDescriptor
	u.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	slices.SortFunc(fields, func(a, b protoreflect.FieldDescriptor) int { return cmp.Compare(a.Number(), b.Number()) })
	names := make([]string, len(fields))
	for i, fd := range fields {
		names[i] = string(fd.Name())
	}
	return names
}

// next receives one update or fails after deadline.
func next(t *testing.T, s *Session) *pb.SessionUpdate {
	t.Helper()
	select {
	case u, ok := <-s.Updates:
		if !ok {
			t.Fatalf("session ended: release %v, err %v", s.Release(), s.Err())
		}
		return u
	case <-time.After(deadline):
		t.Fatal("no session update in time")
		return nil
	}
}

// end reads the updates left until Updates is closed and returns them; it fails when the
// stream is still open after deadline.
func end(t *testing.T, s *Session) []*pb.SessionUpdate {
	t.Helper()
	var rest []*pb.SessionUpdate
	timeout := time.After(deadline)
	for {
		select {
		case u, ok := <-s.Updates:
			if !ok {
				return rest
			}
			rest = append(rest, u)
		case <-timeout:
			t.Fatalf("the session stream did not end within %v (updates meanwhile: %v)", deadline, rest)
			return nil
		}
	}
}

// open opens a session and fails when its first update does not come within deadline
// (OpenSession waits for it). Cancelling the returned context ends the session.
func open(ctx context.Context, t *testing.T, client *Client) (*Session, context.CancelFunc) {
	t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	timer := time.AfterFunc(deadline, cancel)
	s, err := client.OpenSession(sctx, []string{"ethernet"}, pb.ConnectionType_CONNECTION_TYPE_LOCAL)
	if !timer.Stop() {
		t.Fatalf("OpenSession: no first update within %v (err %v)", deadline, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, cancel
}

func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !check() {
		if time.Now().After(end) {
			t.Fatalf("%s: still not true after %v", what, deadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDaemonMTLS connects to the real daemon's mutual-TLS listener with certificates made by
// `netpilot certs` (clients/testbed.sh): the admin controller reads and changes, the viewer
// reads and is refused a change naming the role, and a certificate from another CA gets no
// connection at all.
func TestDaemonMTLS(t *testing.T) {
	addr, ca := env(t, "NETPILOT_TLS_ADDR"), env(t, "NETPILOT_TLS_CA")
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	admin, err := Dial(ctx, WithTarget(addr), WithMTLS(ca, env(t, "NETPILOT_TLS_ADMIN_CERT"), env(t, "NETPILOT_TLS_ADMIN_KEY")))
	if err != nil {
		t.Fatalf("admin Dial over mTLS: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Services(ctx); err != nil {
		t.Fatalf("admin ListServices: %v", err)
	}
	off := false
	if _, err := admin.Manager.UpdateManager(ctx, &pb.UpdateManagerRequest{OfflineMode: &off}); err != nil {
		t.Fatalf("admin UpdateManager: %v", err)
	}

	viewer, err := Dial(ctx, WithTarget(addr), WithMTLS(ca, env(t, "NETPILOT_TLS_VIEWER_CERT"), env(t, "NETPILOT_TLS_VIEWER_KEY")))
	if err != nil {
		t.Fatalf("viewer Dial over mTLS: %v", err)
	}
	defer viewer.Close()
	if _, err := viewer.GetManager(ctx); err != nil {
		t.Fatalf("viewer GetManager: %v", err)
	}
	on := true
	_, err = viewer.Manager.UpdateManager(ctx, &pb.UpdateManagerRequest{OfflineMode: &on})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "needs role admin") {
		t.Fatalf("viewer UpdateManager: want PermissionDenied naming admin, got %v", err)
	}

	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	if c, err := Dial(short, WithTarget(addr), WithMTLS(ca, env(t, "NETPILOT_TLS_INTRUDER_CERT"), env(t, "NETPILOT_TLS_INTRUDER_KEY"))); err == nil {
		c.Close()
		t.Fatal("a certificate from another CA was served")
	}
}

// TestReadmeExample keeps the README's example identical to examples/state, which
// TestDaemon runs.
// TestDaemon is the clients' shared scenario against the real netpilotd that
// clients/testbed.sh runs in a network namespace. Its steps run in order; the last stops
// the daemon.
func TestDaemon(t *testing.T) {
	socket := env(t, "NETPILOT_SOCKET")
	ns, peerNS := env(t, "NETPILOT_TEST_NS"), env(t, "NETPILOT_TEST_PEER_NS")
	pid, err := strconv.Atoi(env(t, "NETPILOTD_PID"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := Dial(ctx, WithSocket(socket))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	t.Run("services over the Unix socket", func(t *testing.T) {
		services, err := client.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(services) != 1 || services[0].GetEthernet().GetInterface() != "veth0" || services[0].GetName() != "Wired" {
			t.Fatalf("services = %v", services)
		}
	})

	t.Run("example from the README", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, "go", "run", "../examples/state").CombinedOutput()
		if err != nil {
			t.Fatalf("go run ../examples/state: %v: %s", err, out)
		}
		if !regexp.MustCompile(`^ethernet_\w+_cable SERVICE_STATE_\w+ veth0\n$`).Match(out) {
			t.Fatalf("unexpected output:\n%s", out)
		}
	})

	t.Run("invalid settings name the field", func(t *testing.T) {
		_, err := client.OpenSession(ctx, []string{"wimax"}, pb.ConnectionType_CONNECTION_TYPE_LOCAL)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v, want InvalidArgument", err)
		}
		if _, ok := FieldViolations(err)[badField]; !ok || !strings.Contains(status.Convert(err).Message(), badField) {
			t.Fatalf("err = %v, violations %v: want %s", err, FieldViolations(err), badField)
		}
	})

	t.Run("cancelling the context ends the session", func(t *testing.T) {
		s, scancel := open(ctx, t, client)
		next(t, s)
		list, err := client.ListSessions(ctx)
		if err != nil || len(list) != 1 || list[0].GetSessionId() != s.ID {
			t.Fatalf("ListSessions = %v, %v; want [%s]", list, err, s.ID)
		}
		scancel()
		end(t, s)
		if s.Err() != context.Canceled || s.Release() != nil {
			t.Fatalf("after cancel: err %v, release %v", s.Err(), s.Release())
		}
		eventually(t, "the session is gone", func() bool {
			list, err := client.ListSessions(ctx)
			return err == nil && len(list) == 0
		})
	})

	t.Run("session follows the link until shutdown", func(t *testing.T) {
		s, _ := open(ctx, t, client)
		first := next(t, s)
		every := first.ProtoReflect().Descriptor().Fields().Len()
		if len(setFields(first)) != every || first.GetState() != pb.SessionState_SESSION_STATE_DISCONNECTED {
			t.Fatalf("first update must carry every field, disconnected: %v", first)
		}
		if !slices.Equal(first.GetAllowedBearers().GetBearers(), []string{"ethernet"}) ||
			first.GetConnectionType() != pb.ConnectionType_CONNECTION_TYPE_LOCAL {
			t.Fatalf("first update settings: %v", first)
		}

		ip(t, "-n", ns, "addr", "add", "198.18.5.2/24", "dev", "veth0")
		up := next(t, s)
		want := []string{"state", "name", "bearer", "interface", "service_id", "ipv4"}
		if got := setFields(up); !slices.Equal(got, want) {
			t.Fatalf("fields %v, want %v: %v", got, want, up)
		}
		if up.GetState() != pb.SessionState_SESSION_STATE_CONNECTED || up.GetName() != "Wired" ||
			up.GetBearer() != "ethernet" || up.GetInterface() != "veth0" ||
			!strings.HasPrefix(up.GetServiceId(), "ethernet_") || up.GetIpv4().GetAddress() != "198.18.5.2" {
			t.Fatalf("connected update: %v", up)
		}

		ip(t, "-n", peerNS, "link", "set", "peer0", "down")
		if down := next(t, s); down.GetState() != pb.SessionState_SESSION_STATE_DISCONNECTED {
			t.Fatalf("after carrier loss: %v", down)
		}

		// grpc_health_probe answers SERVING until the daemon stops.
		probe := exec.CommandContext(ctx, "grpc_health_probe", "-addr", "unix://"+socket)
		if out, err := probe.CombinedOutput(); err != nil || !strings.Contains(string(out), "SERVING") {
			t.Fatalf("grpc_health_probe: %v: %s", err, out)
		}

		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if rest := end(t, s); len(rest) != 0 {
			t.Errorf("updates after SIGTERM: %v", rest)
		}
		if s.Err() != nil || s.Release().GetReason() != "shutdown" {
			t.Fatalf("want release \"shutdown\" and a clean end: release %v, err %v", s.Release(), s.Err())
		}
	})
}

func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	example, err := os.ReadFile("../examples/state/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if m == nil || !strings.Contains(string(example), string(m[1])) {
		t.Fatal("clients/go/README.md's example is not a verbatim part of examples/state/main.go")
	}
}
