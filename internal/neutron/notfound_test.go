package neutron

import "testing"

// TestNotFoundMessages holds each resource's 404 to the type and message
// Neutron 2023.1 gives it (clients match the type; the message is shown).
func TestNotFoundMessages(t *testing.T) {
	for _, c := range []struct{ kind, typ, msg string }{
		{"Network", "NetworkNotFound", "Network x could not be found."},
		{"Port", "PortNotFound", "Port x could not be found."},
		{"SecurityGroup", "SecurityGroupNotFound", "Security group x does not exist"},
		{"SecurityGroupRule", "SecurityGroupRuleNotFound", "Security group rule x does not exist"},
		{"Router", "RouterNotFound", "Router x could not be found"},
		{"FloatingIP", "FloatingIPNotFound", "Floating IP x could not be found"},
		{"SubnetPool", "SubnetPoolNotFound", "Subnet pool x could not be found."},
	} {
		e := NotFound(c.kind, "x")
		if e.Status != 404 || e.Type != c.typ || e.Message != c.msg {
			t.Errorf("NotFound(%q) = %d %s %q, want 404 %s %q", c.kind, e.Status, e.Type, e.Message, c.typ, c.msg)
		}
	}
}
