package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"neutrino/internal/rpc/pb"
)

// nullStream is a server stream outside gRPC: encoding on it fails after
// the message is built, which is all TestSnapshotEncodesBounded needs.
type nullStream struct{ ctx context.Context }

func (n nullStream) Context() context.Context   { return n.ctx }
func (nullStream) SendMsg(any) error            { return nil }
func (nullStream) RecvMsg(any) error            { return nil }
func (nullStream) SetHeader(metadata.MD) error  { return nil }
func (nullStream) SendHeader(metadata.MD) error { return nil }
func (nullStream) SetTrailer(metadata.MD)       {}
func (n nullStream) stream() grpc.ServerStream  { return n }

// TestSnapshotEncodesBounded: however many watches want a snapshot at
// once, at most SnapshotEncodes are being built at a time; the others
// wait, and all are built once tokens free up.
func TestSnapshotEncodesBounded(t *testing.T) {
	const limit, watchers = 3, 40
	s := NewServer(nil, ServerConfig{SnapshotEncodes: limit})
	var inFlight, most, built atomic.Int64
	release := make(chan struct{})
	build := func() proto.Message {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		built.Add(1)
		return &pb.WatchMessage{Revision: 1}
	}
	var wg sync.WaitGroup
	for range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.sendSnapshot(context.Background(), nullStream{context.Background()}.stream(), build)
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for inFlight.Load() < limit {
		if time.Now().After(deadline) {
			t.Fatalf("%d snapshots being built after a minute, want %d", inFlight.Load(), limit)
		}
		time.Sleep(time.Millisecond)
	}
	// Every other watcher has had time to start building, were it not
	// held back.
	time.Sleep(100 * time.Millisecond)
	if n := inFlight.Load(); n != limit {
		t.Fatalf("%d snapshots being built at once, want at most %d", n, limit)
	}
	close(release)
	wg.Wait()
	if built.Load() != watchers || most.Load() != limit {
		t.Fatalf("built %d of %d snapshots, at most %d at once; want all, at most %d", built.Load(), watchers, most.Load(), limit)
	}
}

// TestSnapshotEncodeWaitEndsWithStream: a watch waiting for a token
// gives up when its stream ends, building nothing.
func TestSnapshotEncodeWaitEndsWithStream(t *testing.T) {
	s := NewServer(nil, ServerConfig{SnapshotEncodes: 1})
	s.encodes <- struct{}{} // the only token is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.sendSnapshot(ctx, nullStream{ctx}.stream(), func() proto.Message {
		t.Error("snapshot built without a token")
		return &pb.WatchMessage{}
	})
	if err == nil {
		t.Fatal("sendSnapshot on an ended stream returned nil")
	}
}
