package main

import (
	"strings"
	"testing"
)

func TestVMNames(t *testing.T) {
	tests := []struct {
		name string
		ids  []string
		want string
	}{
		{"", []string{"2bc01296"}, "vm-2bc01296"},
		{"", []string{"a", "b"}, "vm-a vm-b"},
		{"web", []string{"a"}, "web"},
		{"web", []string{"a", "b", "c"}, "web-1 web-2 web-3"},
	}
	for _, tt := range tests {
		if got := strings.Join(vmNames(tt.name, tt.ids), " "); got != tt.want {
			t.Errorf("vmNames(%q, %v) = %q, want %q", tt.name, tt.ids, got, tt.want)
		}
	}
}

func TestPrintVMs(t *testing.T) {
	var b strings.Builder
	printVMs(&b, []vmRow{
		{ID: "2bc01296-f8d4-48ce-a600-5acf83ee2bbf", Name: "vm-2bc01296-f8d4-48ce-a600-5acf83ee2bbf", Status: "ACTIVE", Power: "Running", Host: "compute2", Networks: "testnet=192.168.1.2", DHCP: "192.168.1.2/24 via 192.168.1.1 mtu 1450"},
		{ID: "4f63feaf-e92a-4045-8e45-d3160c99fb84", Name: "vm-4f63feaf-e92a-4045-8e45-d3160c99fb84", Status: "ACTIVE", Power: "Running", Host: "compute", Networks: "testnet=192.168.1.4"},
	})
	want := `+--------------------------------------+-----------------------------------------+--------+-------------+----------+---------------------+-----------------------------------------+
| ID                                   | Name                                    | Status | Power State | Host     | Networks            | DHCP lease                              |
+--------------------------------------+-----------------------------------------+--------+-------------+----------+---------------------+-----------------------------------------+
| 2bc01296-f8d4-48ce-a600-5acf83ee2bbf | vm-2bc01296-f8d4-48ce-a600-5acf83ee2bbf | ACTIVE | Running     | compute2 | testnet=192.168.1.2 | 192.168.1.2/24 via 192.168.1.1 mtu 1450 |
| 4f63feaf-e92a-4045-8e45-d3160c99fb84 | vm-4f63feaf-e92a-4045-8e45-d3160c99fb84 | ACTIVE | Running     | compute  | testnet=192.168.1.4 |                                         |
+--------------------------------------+-----------------------------------------+--------+-------------+----------+---------------------+-----------------------------------------+
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
