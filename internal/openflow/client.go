package openflow

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Client; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// EchoInterval is the silence after which an idle connection sends
	// an echo request (default 5 s).
	EchoInterval time.Duration
	// EchoTimeout is how much longer an idle connection waits for any
	// message before it is dropped (default 15 s). While a request is in
	// flight only its context bounds the wait: a large bundle on a loaded
	// switch may keep it silent for long.
	EchoTimeout time.Duration
	// DialWait is how long a dial waits for the socket to appear (the
	// bridge was just created or ovs-vswitchd is restarting; default 5 s).
	DialWait time.Duration
}

// Client is one persistent OpenFlow connection to a bridge's management
// socket, dialled on first use and again after it broke. It is safe for
// concurrent use; requests are serialised.
type Client struct {
	path string
	opts Options
	log  *slog.Logger

	mu     sync.Mutex // one request at a time; guards conn and closed
	conn   *conn
	closed bool
	busy   atomic.Bool // a request is in flight (the keepalive stays quiet)
	xid    atomic.Uint32
	bundle uint32
	dials  atomic.Int64
}

// NewClient returns a client for the unix socket at path; it connects on
// the first request.
func NewClient(path string, opts Options) *Client {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.EchoInterval <= 0 {
		opts.EchoInterval = 5 * time.Second
	}
	if opts.EchoTimeout <= 0 {
		opts.EchoTimeout = 15 * time.Second
	}
	if opts.DialWait <= 0 {
		opts.DialWait = 5 * time.Second
	}
	return &Client{path: path, opts: opts, log: opts.Logger.With("socket", path)}
}

// Dials counts the connections made so far (a reconnect adds one).
func (c *Client) Dials() int64 { return c.dials.Load() }

// Close ends the connection; later requests fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		c.conn.close(errors.New("client closed"))
		c.conn = nil
	}
	return nil
}

// connError is a failure of the connection itself (not a switch's
// answer): the request may be retried on a new connection.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// Bundle applies the flow mods as one atomic bundle: all of them or, if
// the switch rejects any, none. The error names every rejected flow. A
// bundle cut short by a broken connection (ovs-vswitchd restarted) is
// sent once more on a new connection.
func (c *Client) Bundle(ctx context.Context, mods []*FlowMod) error {
	if len(mods) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy.Store(true)
	defer c.busy.Store(false)
	for attempt := 0; ; attempt++ {
		cn, err := c.connect(ctx)
		if err != nil {
			return err
		}
		err = c.sendBundle(ctx, cn, mods)
		var ce *connError
		if !errors.As(err, &ce) {
			return err
		}
		cn.close(err)
		if ctx.Err() != nil {
			return fmt.Errorf("openflow bundle on %s: %w", c.path, ctx.Err())
		}
		if attempt > 0 {
			return fmt.Errorf("openflow bundle on %s: %w", c.path, err)
		}
		c.log.Info("openflow connection broke during a bundle; sending it again on a new connection", "err", err)
	}
}

// connect returns the live connection, dialling a new one if there is
// none or it broke. c.mu is held.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	if c.closed {
		return nil, fmt.Errorf("openflow %s: client closed", c.path)
	}
	if c.conn != nil {
		select {
		case <-c.conn.done:
			c.log.Info("openflow connection lost; reconnecting", "err", c.conn.err)
			c.conn = nil
		default:
			return c.conn, nil
		}
	}
	cn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.conn = cn
	return cn, nil
}

func (c *Client) nextXID() uint32 { return c.xid.Add(1) }

// dial connects (waiting up to DialWait for the socket), exchanges HELLO
// and starts the reader and the keepalive.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	deadline := time.Now().Add(c.opts.DialWait)
	var nc net.Conn
	for {
		var err error
		nc, err = (&net.Dialer{}).DialContext(ctx, "unix", c.path)
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("openflow: connect %s: %w", c.path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("openflow: connect %s: %w", c.path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	hsDeadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(hsDeadline) {
		hsDeadline = d
	}
	_ = nc.SetDeadline(hsDeadline)
	r := bufio.NewReaderSize(nc, 64<<10)
	if _, err := nc.Write(helloMsg(c.nextXID())); err != nil {
		nc.Close()
		return nil, fmt.Errorf("openflow: hello to %s: %w", c.path, err)
	}
	m, err := readMessage(r)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("openflow: hello from %s: %w", c.path, err)
	}
	h, ok := m.(*Hello)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("openflow: %s answered HELLO with message type %d", c.path, m.Hdr().Type)
	}
	if err := negotiate(h); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	_ = nc.SetDeadline(time.Time{})
	cn := &conn{nc: nc, notify: make(chan struct{}, 1), done: make(chan struct{})}
	cn.lastRx.Store(time.Now().UnixNano())
	c.dials.Add(1)
	go cn.readLoop(r, c.log)
	go c.keepalive(cn)
	return cn, nil
}

// readMessage reads one whole message.
func readMessage(r io.Reader) (Message, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if n < headerLen {
		return nil, fmt.Errorf("openflow: message length %d", n)
	}
	b := make([]byte, n)
	copy(b, hdr[:])
	if _, err := io.ReadFull(r, b[headerLen:]); err != nil {
		return nil, err
	}
	return Decode(b)
}

// keepalive sends an echo request after EchoInterval of silence while no
// request is in flight, and drops the connection when the switch stays
// silent for EchoTimeout more.
func (c *Client) keepalive(cn *conn) {
	tick := time.NewTicker(c.opts.EchoInterval / 2)
	defer tick.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-tick.C:
		}
		if c.busy.Load() {
			continue
		}
		silent := time.Since(time.Unix(0, cn.lastRx.Load()))
		switch {
		case silent > c.opts.EchoInterval+c.opts.EchoTimeout:
			cn.close(fmt.Errorf("openflow: no message from %s for %s", c.path, silent.Round(time.Millisecond)))
			return
		case silent > c.opts.EchoInterval:
			if err := cn.write(echoMsg(typeEchoRequest, c.nextXID(), nil)); err != nil {
				cn.close(err)
				return
			}
		}
	}
}

// conn is one connection: a reader goroutine answers echo requests and
// queues the replies requests wait for. The queue is unbounded so that
// the reader never blocks while a request is still writing a large
// bundle (OVS stops reading while its replies pile up).
type conn struct {
	nc  net.Conn
	wmu sync.Mutex

	mu     sync.Mutex
	queue  []Message
	notify chan struct{}

	lastRx    atomic.Int64 // unix nanoseconds of the last message
	done      chan struct{}
	err       error // why done was closed
	closeOnce sync.Once
}

func (cn *conn) close(err error) {
	cn.closeOnce.Do(func() {
		cn.err = err
		cn.nc.Close()
		close(cn.done)
	})
}

func (cn *conn) write(b []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if _, err := cn.nc.Write(b); err != nil {
		return &connError{fmt.Errorf("openflow write: %w", err)}
	}
	return nil
}

func (cn *conn) readLoop(r io.Reader, log *slog.Logger) {
	for {
		m, err := readMessage(r)
		if err != nil {
			cn.close(fmt.Errorf("openflow read: %w", err))
			return
		}
		cn.lastRx.Store(time.Now().UnixNano())
		switch m := m.(type) {
		case *Echo:
			if m.Type == typeEchoRequest {
				if err := cn.write(echoMsg(typeEchoReply, m.XID, m.Data)); err != nil {
					cn.close(err)
					return
				}
			}
		case *ErrorMsg, *BarrierReply, *BundleCtrl:
			cn.mu.Lock()
			cn.queue = append(cn.queue, m)
			cn.mu.Unlock()
			select {
			case cn.notify <- struct{}{}:
			default:
			}
		default:
			log.Debug("openflow message ignored", "type", m.Hdr().Type, "xid", m.Hdr().XID)
		}
	}
}

// next returns the next queued message, waiting for one.
func (cn *conn) next(ctx context.Context) (Message, error) {
	for {
		cn.mu.Lock()
		if len(cn.queue) > 0 {
			m := cn.queue[0]
			cn.queue[0] = nil
			cn.queue = cn.queue[1:]
			cn.mu.Unlock()
			return m, nil
		}
		cn.mu.Unlock()
		select {
		case <-cn.notify:
		case <-cn.done:
			// Deliver what arrived before the connection ended.
			cn.mu.Lock()
			n := len(cn.queue)
			cn.mu.Unlock()
			if n == 0 {
				return nil, &connError{cn.err}
			}
		case <-ctx.Done():
			return nil, &connError{ctx.Err()}
		}
	}
}

// sendBundle runs one bundle on cn: OPEN, ADD per flow mod, BARRIER in
// one write; then COMMIT if the switch took every ADD, DISCARD if not
// (OVS leaves a rejected message out and would commit the others).
func (c *Client) sendBundle(ctx context.Context, cn *conn, mods []*FlowMod) error {
	c.bundle++
	id := c.bundle
	openXID := c.nextXID()
	flowXID := make(map[uint32]*FlowMod, len(mods))
	size := 16
	for _, m := range mods {
		size += 128 + len(m.Text)
	}
	b := appendBundleCtrl(make([]byte, 0, size), openXID, id, bundleOpenRequest)
	var err error
	for _, m := range mods {
		xid := c.nextXID()
		flowXID[xid] = m
		if b, err = appendBundleAdd(b, xid, id, m); err != nil {
			return err
		}
	}
	barrierXID := c.nextXID()
	b = appendBarrier(b, barrierXID)

	stop := context.AfterFunc(ctx, func() { cn.close(ctx.Err()) })
	defer stop()
	if err := cn.write(b); err != nil {
		return err
	}
	var rejected []error
	record := func(e *ErrorMsg) bool {
		if m, ok := flowXID[e.XID]; ok {
			rejected = append(rejected, fmt.Errorf("flow %q: %w", m.Text, e.Err))
			return true
		}
		return false
	}
	for done := false; !done; {
		m, err := cn.next(ctx)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *ErrorMsg:
			if !record(m) && m.XID == openXID {
				rejected = append(rejected, fmt.Errorf("bundle open: %w", m.Err))
			}
		case *BarrierReply:
			done = m.XID == barrierXID
		}
	}
	ctlXID := c.nextXID()
	if len(rejected) > 0 {
		if err := cn.write(appendBundleCtrl(nil, ctlXID, id, bundleDiscardRequest)); err != nil {
			return err
		}
		if err := cn.awaitCtrl(ctx, ctlXID, bundleDiscardReply, record); err != nil {
			var ce *connError
			if errors.As(err, &ce) {
				return err
			}
		}
		return fmt.Errorf("openflow bundle of %d flow mods rejected, nothing applied: %w", len(mods), errors.Join(rejected...))
	}
	if err := cn.write(appendBundleCtrl(nil, ctlXID, id, bundleCommitRequest)); err != nil {
		return err
	}
	if err := cn.awaitCtrl(ctx, ctlXID, bundleCommitReply, record); err != nil {
		var ce *connError
		if errors.As(err, &ce) {
			return err
		}
		return fmt.Errorf("openflow bundle of %d flow mods failed at commit, nothing applied: %w", len(mods), errors.Join(append(rejected, err)...))
	}
	return nil
}

// awaitCtrl waits for the bundle control reply with xid, passing errors
// about other requests to other (the flows of the bundle); the switch's
// error for xid itself is returned.
func (cn *conn) awaitCtrl(ctx context.Context, xid uint32, want uint16, other func(*ErrorMsg) bool) error {
	for {
		m, err := cn.next(ctx)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *ErrorMsg:
			if m.XID == xid {
				return m.Err
			}
			other(m)
		case *BundleCtrl:
			if m.XID == xid {
				if m.CtrlType != want {
					return fmt.Errorf("openflow: bundle control reply of type %d, want %d", m.CtrlType, want)
				}
				return nil
			}
		}
	}
}
