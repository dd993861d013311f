package netpilot

import (
	"context"
	"errors"
	"io"
	"sync"

	pb "github.com/netpilot/netpilot/clients/go/netpilotv1"
)

// Session is an open session. Receive from Updates until it is closed: the first update
// has every field set, later ones only the fields that changed. Cancelling the context
// given to OpenSession ends the stream, and with it the session.
type Session struct {
	// ID is the session id, for ChangeSession, DestroySession and the like.
	ID string
	// Updates delivers the session's updates and is closed when the stream ends.
	Updates <-chan *pb.SessionUpdate

	mu      sync.Mutex
	release *pb.SessionRelease
	err     error
}

// Release returns the daemon's release message once Updates is closed, or nil when the
// stream ended without one (cancelled, or failed: see Err).
func (s *Session) Release() *pb.SessionRelease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.release
}

// Err returns why the stream ended once Updates is closed: nil after a release and a clean
// end, the context's error after cancellation, or the stream's error.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// OpenSession opens a session that allows the given bearers ("ethernet", "wifi",
// "bluetooth", "cellular", "*"; nil means any) in order of preference, with the given
// connection type (CONNECTION_TYPE_UNSPECIFIED means any). Invalid settings return the
// daemon's INVALID_ARGUMENT error (see FieldViolations).
func (c *Client) OpenSession(ctx context.Context, allowedBearers []string, connectionType pb.ConnectionType) (*Session, error) {
	settings := &pb.SessionSettings{ConnectionType: connectionType}
	if allowedBearers != nil {
		settings.AllowedBearers = &pb.BearerList{Bearers: allowedBearers}
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Sessions.OpenSession(ctx, &pb.OpenSessionRequest{Settings: settings})
	if err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	updates := make(chan *pb.SessionUpdate)
	s := &Session{ID: first.GetSessionId(), Updates: updates}
	go func() {
		defer cancel()
		defer close(updates)
		err := s.follow(ctx, first, stream.Recv, updates)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	return s, nil
}

// follow forwards updates until a release and the end of the stream, a failure or ctx.
func (s *Session) follow(ctx context.Context, m *pb.OpenSessionResponse,
	recv func() (*pb.OpenSessionResponse, error), updates chan<- *pb.SessionUpdate) error {
	for {
		if rel := m.GetRelease(); rel != nil {
			s.mu.Lock()
			s.release = rel
			s.mu.Unlock()
			if _, err := recv(); !errors.Is(err, io.EOF) {
				if err == nil {
					return errAfterRelease
				}
				return err
			}
			return nil
		}
		if u := m.GetUpdate(); u != nil {
			select {
			case updates <- u:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var err error
		if m, err = recv(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF // the stream ended without a release
			}
			return err
		}
	}
}
