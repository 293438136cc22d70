package vxlan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Record is one captured frame.
type Record struct {
	Time     time.Time // kernel receive timestamp
	Data     []byte    // the frame from the Ethernet header on (owned by the receiver)
	OrigLen  int       // length on the wire; > len(Data) when cut at the snap length
	Outgoing bool      // sent by this interface (PACKET_OUTGOING) rather than received
}

// String renders the record like a line of tcpdump -n: the time of day,
// then the decoded packet (or why it did not decode).
func (r *Record) String() string {
	b := r.Time.AppendFormat(make([]byte, 0, 160), "15:04:05.000000 ")
	var p Packet
	if err := Decode(r.Data, &p); err != nil {
		return string(append(b, err.Error()...))
	}
	return string(p.AppendText(b))
}

// Options tune a capture. The zero value captures every frame whole.
type Options struct {
	// UDPDstPort keeps only IPv4 UDP frames to this port (0 = keep all).
	// The filter runs in Go on each frame; no BPF program is attached.
	UDPDstPort uint16
	// Snaplen cuts frames longer than this (0 = 65535).
	Snaplen int
	// Buffer is the records channel's capacity (0 = 1024).
	Buffer int
}

// Stats are the socket's counters since it was opened.
type Stats struct {
	Packets uint32 // frames the kernel delivered to the socket (before the Go filter)
	Drops   uint32 // frames dropped because the socket buffer was full
}

// Sniffer is an open AF_PACKET socket bound to one interface.
type Sniffer struct {
	f       *os.File
	opts    Options
	buf     []byte
	oob     []byte
	packets uint32
	drops   uint32
}

// Open opens a packet socket on ifName inside the network namespace nsName
// (a name under /var/run/netns, an absolute path, or "" for the caller's
// own). The capture is live when Open returns.
func Open(nsName, ifName string, opts Options) (*Sniffer, error) {
	if opts.Snaplen <= 0 {
		opts.Snaplen = 65535
	}
	var fd int
	err := inNamespace(nsName, func() error {
		ifi, err := net.InterfaceByName(ifName)
		if err != nil {
			return err
		}
		// Protocol 0 until bound, so no frame of another interface is queued.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		}
		// The kernel takes 802.1Q tags off received (and offloaded sent)
		// frames and passes them beside the data: ask for them, so
		// Read can put them back where they were on the wire.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("PACKET_AUXDATA: %w", err)
		}
		// A larger buffer than the default keeps bursts (iperf) from dropping.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture on %s in netns %q: %w", ifName, nsName, err)
	}
	// A non-blocking fd in os.File joins the runtime poller: reads park the
	// goroutine, and Close wakes them.
	f := os.NewFile(uintptr(fd), "packet:"+ifName)
	return &Sniffer{f: f, opts: opts, buf: make([]byte, opts.Snaplen), oob: make([]byte, 128)}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// inNamespace runs fn on a thread switched into the namespace. It uses a
// fresh goroutine whose thread is discarded if switching back fails, so no
// goroutine ever runs in the wrong namespace.
func inNamespace(nsName string, fn func() error) error {
	if nsName == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		var target netns.NsHandle
		if strings.HasPrefix(nsName, "/") {
			target, err = netns.GetFromPath(nsName)
		} else {
			target, err = netns.GetFromName(nsName)
		}
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open netns: %w", err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the thread dies with this goroutine.
			done <- errors.Join(ferr, fmt.Errorf("leave netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// Read waits for the next frame that passes the filter. It returns
// os.ErrClosed after Close and ctx.Err() when ctx ends first.
func (s *Sniffer) Read(ctx context.Context) (Record, error) {
	return s.read(ctx, true)
}

// errNoFrame: a read that must not wait found no frame queued.
var errNoFrame = errors.New("no frame queued")

// read returns the next frame that passes the filter; without wait it
// takes only what the socket has queued already (errNoFrame when nothing).
func (s *Sniffer) read(ctx context.Context, wait bool) (Record, error) {
	if err := s.f.SetReadDeadline(time.Time{}); err != nil {
		return Record{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = s.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := s.f.SyscallConn()
	if err != nil {
		return Record{}, err
	}
	for {
		var (
			n, oobn int
			from    unix.Sockaddr
			rerr    error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), s.buf, s.oob, unix.MSG_TRUNC)
			return !wait || rerr != unix.EAGAIN
		})
		if err != nil {
			if ctx.Err() != nil {
				return Record{}, ctx.Err()
			}
			return Record{}, err
		}
		if rerr == unix.EAGAIN {
			return Record{}, errNoFrame
		}
		if rerr != nil {
			if rerr == unix.EINTR {
				continue
			}
			return Record{}, fmt.Errorf("recvmsg: %w", rerr)
		}
		data := s.buf[:min(n, len(s.buf))]
		if tpid, tci, ok := vlanTag(s.oob[:oobn]); ok {
			data = withVLAN(data, tpid, tci)
			n += 4
		}
		if s.opts.UDPDstPort != 0 && !isUDPTo(data, s.opts.UDPDstPort) {
			continue
		}
		r := Record{Time: timestamp(s.oob[:oobn]), Data: append([]byte(nil), data...), OrigLen: n}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			r.Outgoing = ll.Pkttype == unix.PACKET_OUTGOING
		}
		return r, nil
	}
}

// isUDPTo is the capture filter: a UDP datagram to port over IPv4 (first
// fragment) or IPv6 (no extension headers), optionally VLAN-tagged.
func isUDPTo(b []byte, port uint16) bool {
	if len(b) < 14 {
		return false
	}
	et, off := be16(b[12:]), 14
	if et == EtherTypeVLAN && len(b) >= 18 {
		et, off = be16(b[16:]), 18
	}
	ip := b[off:]
	switch et {
	case EtherTypeIPv4:
		if len(ip) < 20 {
			return false
		}
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != ProtoUDP || be16(ip[6:])&0x1fff != 0 || ihl < 20 || len(ip) < ihl+4 {
			return false
		}
		return be16(ip[ihl+2:]) == port
	case EtherTypeIPv6:
		return len(ip) >= 44 && ip[6] == ProtoUDP && be16(ip[42:]) == port
	}
	return false
}

// timestamp finds SCM_TIMESTAMPNS in the control messages; without one
// (it should not happen) the time of reading stands in.
func timestamp(oob []byte) time.Time {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.SizeofCmsghdr+16 {
			d := oob[unix.SizeofCmsghdr:]
			sec := int64(binary.NativeEndian.Uint64(d))
			nsec := int64(binary.NativeEndian.Uint64(d[8:]))
			return time.Unix(sec, nsec)
		}
		oob = oob[cmsgAlign(l):]
	}
	return time.Now()
}

// vlanTag finds PACKET_AUXDATA in the control messages and returns the
// 802.1Q tag the kernel took off the frame, if it did.
func vlanTag(oob []byte) (tpid, tci uint16, ok bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && l >= unix.SizeofCmsghdr+int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&oob[unix.SizeofCmsghdr]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 {
				return 0, 0, false
			}
			tpid = EtherTypeVLAN
			if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && aux.Vlan_tpid != 0 {
				tpid = aux.Vlan_tpid
			}
			return tpid, aux.Vlan_tci, true
		}
		oob = oob[cmsgAlign(l):]
	}
	return 0, 0, false
}

// withVLAN puts a tag back between the MAC addresses and the EtherType,
// as the frame was on the wire (what libpcap does with the same data).
func withVLAN(frame []byte, tpid, tci uint16) []byte {
	if len(frame) < 12 {
		return frame
	}
	out := make([]byte, 0, len(frame)+4)
	out = append(out, frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, frame[12:]...)
}

func cmsgAlign(n int) int {
	const a = int(unsafe.Sizeof(uintptr(0)))
	return (n + a - 1) &^ (a - 1)
}

// Stats reads the kernel's counters. Reading resets them in the kernel, so
// they are accumulated here; call it from the goroutine that reads.
func (s *Sniffer) Stats() (Stats, error) {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return Stats{}, err
	}
	var st *unix.TpacketStats
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		st, gerr = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	}); err != nil {
		return Stats{}, err
	}
	if gerr != nil {
		return Stats{}, fmt.Errorf("PACKET_STATISTICS: %w", gerr)
	}
	s.packets += st.Packets
	s.drops += st.Drops
	return Stats{Packets: s.packets, Drops: s.drops}, nil
}

// Send transmits one complete Ethernet frame (from the destination MAC on)
// out of the interface, as if a host behind it had sent it: tests and the
// lab use it to inject a crafted VXLAN packet into an underlay.
func (s *Sniffer) Send(frame []byte) error {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		_, werr = unix.Write(int(fd), frame)
		return werr != unix.EAGAIN
	}); err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("send %d bytes: %w", len(frame), werr)
	}
	return nil
}

// Close closes the socket; a pending Read returns.
func (s *Sniffer) Close() error { return s.f.Close() }

// Capture opens a capture (live when Capture returns) and delivers frames on
// the channel until ctx ends or the socket fails; then it closes the socket
// and the channel. The frames the kernel had queued on the socket when ctx
// ended are delivered too, as far as the channel's buffer takes them: a
// loaded reader that lags behind loses nothing that crossed the interface
// before the end. The error function reports why it stopped (nil after ctx
// ended); call it after the channel is closed.
func Capture(ctx context.Context, nsName, ifName string, opts Options) (<-chan Record, func() error, error) {
	s, err := Open(nsName, ifName, opts)
	if err != nil {
		return nil, nil, err
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 1024
	}
	ch := make(chan Record, opts.Buffer)
	var stopErr error
	go func() {
		defer close(ch)
		defer s.Close()
		// offer hands r over if the channel has room.
		offer := func(r Record) bool {
			select {
			case ch <- r:
				return true
			default:
				return false
			}
		}
		for {
			r, err := s.Read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					stopErr = err
					return
				}
				break
			}
			select {
			case ch <- r:
				continue
			case <-ctx.Done():
			}
			if !offer(r) {
				return
			}
			break
		}
		// ctx ended: what the kernel queued before still comes.
		for {
			r, err := s.read(context.Background(), false)
			if err != nil || !offer(r) {
				return
			}
		}
	}()
	return ch, func() error { return stopErr }, nil
}
