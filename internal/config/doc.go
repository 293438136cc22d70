// Package config reads Neutron's own configuration files (neutron.conf,
// ml2_conf.ini, the OVS and Linux bridge agents' files) the way oslo.config
// does: several --config-file in order, a later file overriding an earlier
// one per option; section names in any case ([OVS] = [ovs], [AGENT] =
// [agent]); old option names and places still accepted (sql_connection,
// [ovs] tunnel_type, [ovs] vxlan_udp_port, enable_tunneling); Neutron's
// defaults applied. Values are trimmed, and an inline "#" or ";" comment
// after whitespace is dropped, because operators write them
// ("local_ip=198.18.255.101      #Use 102 for compute-1"). As in oslo,
// "$state_path" / "${group.option}" expand and "$$" is a literal "$".
//
// Every invalid value is an error that names file, section, option and
// value; options neutrino does not know or does not act on are warnings.
//
// The INI lexer is hand-written (ini.go, ~100 lines) rather than
// gopkg.in/ini.v1 because ini.v1 differs from oslo.config where it matters
// here: it continues values on a trailing backslash (oslo: on an indented
// line), treats backtick and triple-quoted values specially, expands
// %(name)s in values, recognises an inline comment only after a space (not
// a tab), and keeps no file/line for an option; merging files per option
// with oslo's precedence needs that provenance anyway.
package config
