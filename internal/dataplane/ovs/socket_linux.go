package ovs

import (
	"path/filepath"
	"syscall"
)

// socket stats the bridge's management socket.
func (d *Dataplane) socket(bridge string) (socketID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(d.cfg.RunDir, bridge+".mgmt"), &st); err != nil {
		return socketID{}, err
	}
	return socketID{dev: uint64(st.Dev), ino: st.Ino, ctime: st.Ctim}, nil
}
