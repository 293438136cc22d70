package trace

import (
	"fmt"
	"io"
	"strings"
)

// Render writes the trace as text for a terminal (and golden tests).
func Render(w io.Writer, t *Trace) {
	src := t.Source
	name := src.PortName
	if name == "" {
		name = src.PortID
	}
	fmt.Fprintf(w, "trace: port %s (%s, %s %s) on %s -> %s\n", name, src.PortID, src.MAC, strings.Join(src.IPs, " "), src.Host, t.Destination.Input)
	netName := t.Network.Name
	if netName == "" {
		netName = t.Network.ID
	}
	fmt.Fprintf(w, "network %s (%s) %s VNI %d; %s agent on %s (VTEP %s), %s; revision %d\n",
		netName, t.Network.ID, t.Network.Type, t.Network.VNI, src.Mechanism, src.Host, src.VTEP, src.Mode, t.Revision)
	d := t.Destination
	switch {
	case d.PortID != "":
		fmt.Fprintf(w, "destination: %s %s port %s (%s) on %s\n", d.Kind, strings.TrimSpace(d.IP+" "+d.MAC), orDash(d.PortName), d.PortID, orDash(d.Host))
	default:
		fmt.Fprintf(w, "destination: %s %s\n", d.Kind, strings.TrimSpace(d.IP+" "+d.MAC))
	}
	for i, s := range t.Steps {
		fmt.Fprintf(w, "\n%d. %s\n", i+1, s.Title)
		for _, h := range s.Hops {
			renderHop(w, "   ", h, t.Live)
		}
		for _, c := range s.Copies {
			fmt.Fprintf(w, "   -> copy to %s", c.To)
			if c.Host != "" {
				fmt.Fprintf(w, " (%s)", c.Host)
			}
			fmt.Fprintf(w, ": %s\n", c.Underlay)
			for _, h := range c.Hops {
				renderHop(w, "      ", h, t.Live)
			}
			fmt.Fprintf(w, "      => %s\n", c.Outcome)
		}
		fmt.Fprintf(w, "   == %s\n", s.Result)
	}
}

func renderHop(w io.Writer, indent string, h Hop, live bool) {
	mark := ""
	if live && h.Live != "" {
		mark = " [" + h.Live
		for _, f := range h.Missing {
			mark += ": " + f.String()
		}
		if h.Error != "" {
			mark += ": " + h.Error
		}
		mark += "]"
	}
	fmt.Fprintf(w, "%s%-10s %-16s %s\n%s%-10s %-16s   => %s%s\n", indent, h.Host, h.Where, h.Entry, indent, "", "", h.Decision, mark)
}
