// Command l2stub plays the Linux bridge agent for bench/l3, the same for
// neutrino's L3 agent and Neutron's: run inside the bench's node
// namespace, it puts every tap device that is in no bridge into the bridge
// of its port's network, and brings it up. Port ids come from the API
// (GET /v2.0/ports, read again only when a tap of an unknown port
// appears); -map names the bridge of each network. It polls the
// namespace's links every -interval (Neutron's Linux bridge agent polls
// every 2 s; this stand-in is faster so that it stays out of the
// L3 agents' figures).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9696", "the Neutron API")
	mapping := flag.String("map", "", "NETWORK_ID=BRIDGE,... (the bridges exist)")
	interval := flag.Duration("interval", 20*time.Millisecond, "how often the links are listed")
	flag.Parse()
	bridges := map[string]string{}
	for _, kv := range strings.Split(*mapping, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			bridges[k] = v
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	netOf := map[string]string{} // port id[:11] -> network id
	var fetched time.Time
	for {
		select {
		case <-stop:
			return
		case <-time.After(*interval):
		}
		links, err := netlink.LinkList()
		if err != nil {
			log.Fatal(err)
		}
		for _, l := range links {
			a := l.Attrs()
			if !strings.HasPrefix(a.Name, "tap") || a.MasterIndex != 0 {
				continue
			}
			id := strings.TrimPrefix(a.Name, "tap")
			if _, ok := netOf[id]; !ok && time.Since(fetched) > 200*time.Millisecond {
				if err := ports(*url, netOf); err != nil {
					log.Print(err)
				}
				fetched = time.Now()
			}
			br, ok := bridges[netOf[id]]
			if !ok {
				continue
			}
			b, err := netlink.LinkByName(br)
			if err != nil {
				log.Fatalf("bridge %s: %v", br, err)
			}
			if err := netlink.LinkSetMaster(l, b); err != nil {
				log.Printf("%s into %s: %v", a.Name, br, err)
				continue
			}
			if err := netlink.LinkSetUp(l); err != nil {
				log.Printf("%s up: %v", a.Name, err)
			}
		}
	}
}

// ports reads every port's id and network into netOf.
func ports(url string, netOf map[string]string) error {
	resp, err := http.Get(url + "/v2.0/ports?fields=id&fields=network_id")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET ports: %s", resp.Status)
	}
	var body struct {
		Ports []struct {
			ID        string `json:"id"`
			NetworkID string `json:"network_id"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	for _, p := range body.Ports {
		if len(p.ID) >= 11 {
			netOf[p.ID[:11]] = p.NetworkID
		}
	}
	return nil
}
