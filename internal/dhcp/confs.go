package dhcp

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// CheckReachable says whether dnsmasq, which drops root and runs as the
// dnsmasq user, can reach files under dir: every existing directory on the
// way must be searchable by others (a 0700 state_path would leave dnsmasq
// answering nobody, its files unreadable).
func CheckReachable(dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.IsDir() && st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users (mode %v): dnsmasq, running as user dnsmasq, cannot read its files under %s", p, st.Mode().Perm(), dir)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// uuidLike is Neutron's is_uuid_like for dhcp_confs entries, in the
// 8-4-4-4-12 form Neutron names them.
func uuidLike(s string) bool { return len(s) == 36 && uuid.Validate(s) == nil }
