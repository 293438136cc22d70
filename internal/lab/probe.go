package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
)

var rttRE = regexp.MustCompile(`= ([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+) ms`)

// Ping sends n echo requests (10 ms apart) from namespace ns to `to` and
// returns ping's rtt summary: min, avg, max, mdev in milliseconds.
func Ping(ctx context.Context, ns string, to netip.Addr, n int) ([4]float64, error) {
	out, err := Exec(ctx, ns, "ping", "-n", "-q", "-c", strconv.Itoa(n), "-i", "0.01", to.String())
	if err != nil {
		return [4]float64{}, err
	}
	return parseRTT(out)
}

// parseRTT reads the "rtt min/avg/max/mdev = a/b/c/d ms" line of ping -q.
func parseRTT(out []byte) ([4]float64, error) {
	var r [4]float64
	m := rttRE.FindStringSubmatch(string(out))
	if m == nil {
		return r, fmt.Errorf("ping output: %s", out)
	}
	for i := range r {
		r[i], _ = strconv.ParseFloat(m[i+1], 64)
	}
	return r, nil
}

// IperfReceived reads the received bits per second from the output of an
// `iperf3 -J` client run.
func IperfReceived(out []byte) (float64, error) {
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, err
	}
	return res.End.SumReceived.BitsPerSecond, nil
}
