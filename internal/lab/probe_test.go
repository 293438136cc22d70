package lab

import "testing"

func TestParseRTT(t *testing.T) {
	out := []byte("--- 198.18.0.2 ping statistics ---\n20 packets transmitted, 20 received, 0% packet loss, time 190ms\nrtt min/avg/max/mdev = 0.031/0.052/0.118/0.021 ms\n")
	got, err := parseRTT(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := [4]float64{0.031, 0.052, 0.118, 0.021}; got != want {
		t.Fatalf("parseRTT = %v, want %v", got, want)
	}
	if _, err := parseRTT([]byte("3 packets transmitted, 0 received, 100% packet loss\n")); err == nil {
		t.Fatal("parseRTT accepted output without an rtt line")
	}
}

func TestIperfReceived(t *testing.T) {
	got, err := IperfReceived([]byte(`{"end":{"sum_sent":{"bits_per_second":2e9},"sum_received":{"bits_per_second":1.5e9}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got != 1.5e9 {
		t.Fatalf("IperfReceived = %v, want 1.5e9", got)
	}
	if _, err := IperfReceived([]byte("iperf3: error - unable to connect")); err == nil {
		t.Fatal("IperfReceived accepted non-JSON output")
	}
}
