package openflow

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the OpenFlow version this client speaks (OpenFlow 1.4).
const Version = 0x05

// Message types (OpenFlow 1.4 numbering).
const (
	typeHello          = 0
	typeError          = 1
	typeEchoRequest    = 2
	typeEchoReply      = 3
	typeFlowMod        = 14
	typeBarrierRequest = 20
	typeBarrierReply   = 21
	typeBundleControl  = 33
	typeBundleAdd      = 34
)

// Bundle control types and flags.
const (
	bundleOpenRequest    = 0
	bundleOpenReply      = 1
	bundleCommitRequest  = 4
	bundleCommitReply    = 5
	bundleDiscardRequest = 6
	bundleDiscardReply   = 7

	bundleAtomic  = 1 << 0
	bundleOrdered = 1 << 1
)

const (
	headerLen = 8
	// maxMessage is the largest OpenFlow message (16-bit length).
	maxMessage = 0xffff

	helloElemVersionBitmap = 1
)

// Header is the fixed start of every OpenFlow message.
type Header struct {
	Version uint8
	Type    uint8
	Length  uint16
	XID     uint32
}

func appendHeader(b []byte, typ uint8, length int, xid uint32) []byte {
	b = append(b, Version, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(length))
	return binary.BigEndian.AppendUint32(b, xid)
}

// setLength writes the length of the message that starts at b[start:].
func setLength(b []byte, start int) error {
	n := len(b) - start
	if n > maxMessage {
		return fmt.Errorf("openflow message of %d bytes exceeds %d", n, maxMessage)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(n))
	return nil
}

// Message is one message received from the switch.
type Message interface {
	Hdr() Header
}

// Hello is the switch's HELLO: the versions it accepts (bit n set for
// wire version n; 0 when it sent no version bitmap).
type Hello struct {
	Header
	Versions uint32
}

// ErrorMsg is an OFPT_ERROR; its XID is the failed request's.
type ErrorMsg struct {
	Header
	Err *Error
}

// Echo is an echo request or reply (Header.Type tells which).
type Echo struct {
	Header
	Data []byte
}

// BarrierReply answers a barrier request.
type BarrierReply struct{ Header }

// BundleCtrl is a bundle control reply.
type BundleCtrl struct {
	Header
	BundleID uint32
	CtrlType uint16
	Flags    uint16
}

// Other is any message type this client does not use (port status,
// packet-in, ...); it is read and dropped.
type Other struct{ Header }

func (h Header) Hdr() Header { return h }

var errShort = errors.New("openflow: message too short")

// Decode decodes one whole message (header included; len(b) must equal
// the header's length). It never panics on malformed input: anything
// inconsistent is an error.
func Decode(b []byte) (Message, error) {
	if len(b) < headerLen {
		return nil, errShort
	}
	h := Header{Version: b[0], Type: b[1], Length: binary.BigEndian.Uint16(b[2:]), XID: binary.BigEndian.Uint32(b[4:])}
	if int(h.Length) != len(b) {
		return nil, fmt.Errorf("openflow: header length %d, message %d bytes", h.Length, len(b))
	}
	body := b[headerLen:]
	switch h.Type {
	case typeHello:
		return decodeHello(h, body)
	case typeError:
		e, err := decodeError(body)
		if err != nil {
			return nil, err
		}
		return &ErrorMsg{Header: h, Err: e}, nil
	case typeEchoRequest, typeEchoReply:
		return &Echo{Header: h, Data: append([]byte(nil), body...)}, nil
	}
	// The rest are only understood in the version we speak.
	if h.Version != Version {
		return &Other{Header: h}, nil
	}
	switch h.Type {
	case typeBarrierReply:
		return &BarrierReply{Header: h}, nil
	case typeBundleControl:
		if len(body) < 8 {
			return nil, fmt.Errorf("openflow: bundle control: %w", errShort)
		}
		return &BundleCtrl{Header: h, BundleID: binary.BigEndian.Uint32(body), CtrlType: binary.BigEndian.Uint16(body[4:]),
			Flags: binary.BigEndian.Uint16(body[6:])}, nil
	}
	return &Other{Header: h}, nil
}

// decodeHello reads the version bitmap element, if any (OpenFlow 1.3.1+:
// elements of type, length, body, padded to 8 bytes).
func decodeHello(h Header, body []byte) (*Hello, error) {
	m := &Hello{Header: h}
	for len(body) >= 4 {
		typ, n := binary.BigEndian.Uint16(body), int(binary.BigEndian.Uint16(body[2:]))
		if n < 4 || n > len(body) {
			return nil, fmt.Errorf("openflow: hello element length %d of %d bytes", n, len(body))
		}
		if typ == helloElemVersionBitmap && n >= 8 {
			m.Versions = binary.BigEndian.Uint32(body[4:])
		}
		padded := (n + 7) / 8 * 8
		if padded > len(body) {
			break // the last element's padding may be absent
		}
		body = body[padded:]
	}
	return m, nil
}

func decodeError(body []byte) (*Error, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("openflow: error: %w", errShort)
	}
	e := &Error{Type: binary.BigEndian.Uint16(body), Code: binary.BigEndian.Uint16(body[2:])}
	body = body[4:]
	if e.Type == errTypeExperimenter {
		if len(body) < 4 {
			return nil, fmt.Errorf("openflow: experimenter error: %w", errShort)
		}
		e.Experimenter = binary.BigEndian.Uint32(body)
		body = body[4:]
	}
	e.Data = append([]byte(nil), body...)
	return e, nil
}

// helloMsg offers exactly Version.
func helloMsg(xid uint32) []byte {
	b := appendHeader(nil, typeHello, headerLen+8, xid)
	b = binary.BigEndian.AppendUint16(b, helloElemVersionBitmap)
	b = binary.BigEndian.AppendUint16(b, 8)
	return binary.BigEndian.AppendUint32(b, 1<<Version)
}

// negotiate picks the version from the switch's HELLO (OpenFlow 1.4
// 6.3.1: the highest version both bitmaps hold, or without a bitmap the
// lower of the two header versions) and insists on Version.
func negotiate(h *Hello) error {
	if h.Versions != 0 {
		if h.Versions&(1<<Version) == 0 {
			return fmt.Errorf("openflow: the switch offers versions %#x, not OpenFlow 1.4 (bridge protocols must include OpenFlow14)", h.Versions)
		}
		return nil
	}
	if h.Version < Version {
		return fmt.Errorf("openflow: the switch speaks version %#x at most, not OpenFlow 1.4", h.Version)
	}
	return nil
}

func echoMsg(typ uint8, xid uint32, data []byte) []byte {
	b := appendHeader(make([]byte, 0, headerLen+len(data)), typ, headerLen+len(data), xid)
	return append(b, data...)
}

func appendBarrier(b []byte, xid uint32) []byte {
	return appendHeader(b, typeBarrierRequest, headerLen, xid)
}

func appendBundleCtrl(b []byte, xid, id uint32, typ uint16) []byte {
	b = appendHeader(b, typeBundleControl, headerLen+8, xid)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint16(b, bundleAtomic|bundleOrdered)
}

// appendBundleAdd wraps the flow mod m (encoded with the same xid, as
// OVS requires) in an OFPT_BUNDLE_ADD_MESSAGE.
func appendBundleAdd(b []byte, xid, id uint32, m *FlowMod) ([]byte, error) {
	start := len(b)
	b = appendHeader(b, typeBundleAdd, 0, xid)
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, 0, 0) // pad
	b = binary.BigEndian.AppendUint16(b, bundleAtomic|bundleOrdered)
	b, err := m.append(b, xid)
	if err != nil {
		return nil, err
	}
	return b, setLength(b, start)
}
