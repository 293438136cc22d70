package openflow

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder of every message type
// the client reads (HELLO, ERROR, ECHO, BARRIER reply, BUNDLE_CONTROL
// reply, anything else) and to the stream framing. Seeds:
// testdata/fuzz/FuzzDecode (messages as ovs-vswitchd 3.1 sends them) and
// the messages this package encodes.
func FuzzDecode(f *testing.F) {
	f.Add(helloMsg(1))
	f.Add(echoMsg(typeEchoRequest, 2, []byte("data")))
	f.Add(appendBundleCtrl(nil, 3, 4, bundleCommitRequest))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err == nil {
			if int(m.Hdr().Length) != len(b) {
				t.Fatalf("decoded a message of %d bytes whose header says %d", len(b), m.Hdr().Length)
			}
			switch m := m.(type) {
			case *ErrorMsg:
				if m.Err == nil || m.Err.Error() == "" {
					t.Fatal("error message without a usable error")
				}
			case *Hello:
				_ = negotiate(m)
			case *BundleCtrl:
				if len(b) < 16 {
					t.Fatalf("bundle control from %d bytes", len(b))
				}
			}
		}
		// The same bytes as a stream: whole messages until an error,
		// never more than the input.
		r := bytes.NewReader(b)
		for {
			if _, err := readMessage(r); err != nil {
				break
			}
		}
	})
}
