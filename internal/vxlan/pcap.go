package vxlan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Classic libpcap file format (as tcpdump -w writes it): a 24-byte file
// header, then per packet a 16-byte record header and the bytes.
const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	LinkTypeEthernet = 1
	DefaultSnaplen   = 262144 // tcpdump's default
)

// PcapWriter writes a pcap file with LINKTYPE_ETHERNET and microsecond
// timestamps (the variant every tool reads).
type PcapWriter struct {
	w       io.Writer
	snaplen int
	hdr     [16]byte
}

// NewPcapWriter writes the file header; snaplen <= 0 means DefaultSnaplen.
func NewPcapWriter(w io.Writer, snaplen int) (*PcapWriter, error) {
	if snaplen <= 0 {
		snaplen = DefaultSnaplen
	}
	var h [24]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], pcapMagicMicro)
	le.PutUint16(h[4:], 2) // version 2.4
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], uint32(snaplen))
	le.PutUint32(h[20:], LinkTypeEthernet)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	return &PcapWriter{w: w, snaplen: snaplen}, nil
}

// WritePacket writes one frame captured at ts; origLen is its length on the
// wire (len(data) when not truncated). Data beyond snaplen is cut.
func (pw *PcapWriter) WritePacket(ts time.Time, data []byte, origLen int) error {
	if origLen < len(data) {
		origLen = len(data)
	}
	if len(data) > pw.snaplen {
		data = data[:pw.snaplen]
	}
	le := binary.LittleEndian
	le.PutUint32(pw.hdr[0:], uint32(ts.Unix()))
	le.PutUint32(pw.hdr[4:], uint32(ts.Nanosecond()/1000))
	le.PutUint32(pw.hdr[8:], uint32(len(data)))
	le.PutUint32(pw.hdr[12:], uint32(origLen))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		return fmt.Errorf("pcap record: %w", err)
	}
	if _, err := pw.w.Write(data); err != nil {
		return fmt.Errorf("pcap record: %w", err)
	}
	return nil
}

// PcapReader reads classic pcap files of either byte order, with micro- or
// nanosecond timestamps.
type PcapReader struct {
	r        io.Reader
	order    binary.ByteOrder
	nano     bool
	snaplen  uint32
	linkType uint32
	hdr      [16]byte
	buf      []byte
}

// NewPcapReader reads and checks the file header.
func NewPcapReader(r io.Reader) (*PcapReader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	pr := &PcapReader{r: r}
	switch {
	case binary.LittleEndian.Uint32(h[:]) == pcapMagicMicro:
		pr.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h[:]) == pcapMagicNano:
		pr.order, pr.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[:]) == pcapMagicMicro:
		pr.order = binary.BigEndian
	case binary.BigEndian.Uint32(h[:]) == pcapMagicNano:
		pr.order, pr.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap header: bad magic %x (pcapng is not supported)", h[:4])
	}
	pr.snaplen = pr.order.Uint32(h[16:])
	pr.linkType = pr.order.Uint32(h[20:]) & 0x0fffffff
	return pr, nil
}

// LinkType is the file's link type (LinkTypeEthernet for ours and tcpdump's on Ethernet).
func (pr *PcapReader) LinkType() uint32 { return pr.linkType }

// Next returns the next record; data is valid until the next call. At the
// end it returns io.EOF; a record cut short returns io.ErrUnexpectedEOF.
func (pr *PcapReader) Next() (ts time.Time, data []byte, origLen int, err error) {
	if _, err = io.ReadFull(pr.r, pr.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return ts, nil, 0, io.EOF
		}
		return ts, nil, 0, err
	}
	sec, frac := pr.order.Uint32(pr.hdr[0:]), pr.order.Uint32(pr.hdr[4:])
	incl, orig := pr.order.Uint32(pr.hdr[8:]), pr.order.Uint32(pr.hdr[12:])
	if incl > 1<<26 {
		return ts, nil, 0, fmt.Errorf("pcap record: length %d is not plausible", incl)
	}
	if cap(pr.buf) < int(incl) {
		pr.buf = make([]byte, incl)
	}
	pr.buf = pr.buf[:incl]
	if _, err = io.ReadFull(pr.r, pr.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return ts, nil, 0, err
	}
	nsec := int64(frac) * 1000
	if pr.nano {
		nsec = int64(frac)
	}
	return time.Unix(int64(sec), nsec), pr.buf, int(orig), nil
}
