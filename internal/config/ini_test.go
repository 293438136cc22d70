package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseINI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []entry // File is always "f.ini"
	}{
		{"trailing spaces on headers and values", "[ml2]  \ntype_drivers = vxlan  \n",
			[]entry{{Line: 2, Section: "ml2", Name: "type_drivers", Value: "vxlan"}}},
		{"inline hash comment after spaces", "[OVS]\nlocal_ip=198.18.255.101      #Use 102 for compute-1  \n",
			[]entry{{Line: 2, Section: "OVS", Name: "local_ip", Value: "198.18.255.101"}}},
		{"inline semicolon comment after a tab", "[a]\nx = 1\t; one\n",
			[]entry{{Line: 2, Section: "a", Name: "x", Value: "1"}}},
		{"hash inside a word is kept", "[database]\nconnection = mysql://u:pa#ss@h/db\n",
			[]entry{{Line: 2, Section: "database", Name: "connection", Value: "mysql://u:pa#ss@h/db"}}},
		{"no spaces around =", "[DEFAULT]\ncore_plugin =neutron.plugins.ml2.plugin.Ml2Plugin\n",
			[]entry{{Line: 2, Section: "DEFAULT", Name: "core_plugin", Value: "neutron.plugins.ml2.plugin.Ml2Plugin"}}},
		{"colon separator", "[a]\nx: y\n", []entry{{Line: 2, Section: "a", Name: "x", Value: "y"}}},
		{"first separator wins", "[ml2_type_vxlan]\nvni_ranges = 1:2\n",
			[]entry{{Line: 2, Section: "ml2_type_vxlan", Name: "vni_ranges", Value: "1:2"}}},
		{"comments and blank lines", "# top\n; also\n[a]\n\n  # indented comment\nx=1\n",
			[]entry{{Line: 6, Section: "a", Name: "x", Value: "1"}}},
		{"quotes stripped", "[a]\nx = \"v w\"\ny='z'\n", []entry{
			{Line: 2, Section: "a", Name: "x", Value: "v w"}, {Line: 3, Section: "a", Name: "y", Value: "z"}}},
		{"continuation line", "[a]\nx = one,\n  two\ny = 3\n", []entry{
			{Line: 2, Section: "a", Name: "x", Value: "one,\ntwo"}, {Line: 4, Section: "a", Name: "y", Value: "3"}}},
		{"CRLF line ends and BOM", "\xef\xbb\xbf[a]\r\nx = 1\r\n", []entry{{Line: 2, Section: "a", Name: "x", Value: "1"}}},
		{"empty value", "[a]\nx =\n", []entry{{Line: 2, Section: "a", Name: "x", Value: ""}}},
		{"no final newline", "[a]\nx = 1", []entry{{Line: 2, Section: "a", Name: "x", Value: "1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseINI("f.ini", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				tc.want[i].File = "f.ini"
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseINIErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"x = 1\n", `f.ini:1: option "x" is outside any [section]`},
		{"[a\n", `f.ini:1: section header "[a" has no closing ]`},
		{"[ ]\n", `f.ini:1: empty section name`},
		{"[a]\njust words\n", `f.ini:2: "just words" is not "name = value"`},
		{"[a]\n= 1\n", `f.ini:2: "= 1" has no option name`},
		{"[a]\n  x = 1\n", `f.ini:2: indented line "x = 1" continues no option`},
	}
	for _, tc := range tests {
		_, err := parseINI("f.ini", []byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("parseINI(%q) error = %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestSectionKey(t *testing.T) {
	for in, want := range map[string]string{"OVS": "ovs", "ovs": "ovs", "AGENT": "agent", "DEFAULT": "DEFAULT",
		"default": "DEFAULT", "Database": "database", "ml2_type_vxlan": "ml2_type_vxlan"} {
		if got := sectionKey(in); got != want {
			t.Errorf("sectionKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseBoolAndList(t *testing.T) {
	for in, want := range map[string]bool{"True": true, "true": true, "yes": true, "1": true, "on": true, "ON": true,
		"False": false, "false": false, "no": false, "0": false, "off": false} {
		got, ok := parseBool(in)
		if !ok || got != want {
			t.Errorf("parseBool(%q) = %v, %v; want %v, true", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "y", "2", "truee"} {
		if _, ok := parseBool(in); ok {
			t.Errorf("parseBool(%q) accepted", in)
		}
	}
	lists := map[string][]string{
		"vxlan":                         {"vxlan"},
		" openvswitch , l2population ,": {"openvswitch", "l2population"},
		"":                              nil,
		"a,,b":                          {"a", "b"},
	}
	for in, want := range lists {
		if got := parseList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://neutron:83105f1d6ded47cc@127.0.0.1/neutron_ml2": "mysql://neutron:***@127.0.0.1/neutron_ml2",
		"rabbit://guest:guest@10.0.0.1:5672/":                    "rabbit://guest:***@10.0.0.1:5672/",
		"sqlite:////var/lib/x.db":                                "sqlite:////var/lib/x.db",
		"grpc://h:9697":                                          "grpc://h:9697",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(redact(in), "83105f1d6ded47cc") {
			t.Errorf("password survived redact(%q)", in)
		}
	}
}

// FuzzParseINI: any input either parses or is refused with an error; the
// parser never panics, and every entry it returns names a section.
func FuzzParseINI(f *testing.F) {
	f.Add([]byte("[OVS]  \nlocal_ip=198.18.255.101      #Use 102\n[AGENT]\ntunnel_types = vxlan\n"))
	f.Add([]byte("[a]\nx = one,\n  two\n\n; c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseINI("f.ini", b)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Section == "" || e.Name == "" {
				t.Fatalf("entry without section or name: %+v", e)
			}
		}
	})
}
