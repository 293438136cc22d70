-- +goose Up
-- The initial neutrino schema. One revision counter row serialises
-- writers at commit time (see package store); every write appends its
-- change-log rows to changes in the same transaction.
CREATE TABLE revision (
  id INTEGER NOT NULL PRIMARY KEY,
  value BIGINT NOT NULL,
  pruned BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO revision (id, value, pruned) VALUES (1, 0, 0);

CREATE TABLE changes (
  revision BIGINT NOT NULL PRIMARY KEY,
  kind VARCHAR(16) NOT NULL,
  obj_id VARCHAR(255) NOT NULL,
  op VARCHAR(8) NOT NULL,
  object MEDIUMTEXT,
  created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE networks (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(255) NOT NULL,
  admin_state_up BOOLEAN NOT NULL,
  shared BOOLEAN NOT NULL,
  router_external BOOLEAN NOT NULL,
  status VARCHAR(16) NOT NULL,
  mtu INTEGER NOT NULL,
  port_security_enabled BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX networks_project ON networks (project_id);

CREATE TABLE network_segments (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  network_id VARCHAR(36) NOT NULL,
  segment_index INTEGER NOT NULL,
  network_type VARCHAR(32) NOT NULL,
  physical_network VARCHAR(64) NOT NULL,
  segmentation_id BIGINT NOT NULL,
  UNIQUE (network_id, segment_index),
  FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE subnets (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  network_id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(255) NOT NULL,
  ip_version INTEGER NOT NULL,
  cidr VARCHAR(64) NOT NULL,
  gateway_ip VARCHAR(64) NOT NULL,
  allocation_pools MEDIUMTEXT NOT NULL,
  enable_dhcp BOOLEAN NOT NULL,
  dns_nameservers MEDIUMTEXT NOT NULL,
  host_routes MEDIUMTEXT NOT NULL,
  ipv6_ra_mode VARCHAR(32) NOT NULL,
  ipv6_address_mode VARCHAR(32) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL,
  FOREIGN KEY (network_id) REFERENCES networks (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX subnets_network ON subnets (network_id);

CREATE TABLE ports (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  network_id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(255) NOT NULL,
  mac_address VARCHAR(32) NOT NULL,
  device_id VARCHAR(255) NOT NULL,
  device_owner VARCHAR(255) NOT NULL,
  status VARCHAR(16) NOT NULL,
  admin_state_up BOOLEAN NOT NULL,
  port_security_enabled BOOLEAN NOT NULL,
  allowed_address_pairs MEDIUMTEXT NOT NULL,
  security_groups MEDIUMTEXT NOT NULL,
  host_id VARCHAR(255) NOT NULL,
  vnic_type VARCHAR(64) NOT NULL,
  profile MEDIUMTEXT NOT NULL,
  vif_type VARCHAR(64) NOT NULL,
  vif_details MEDIUMTEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL,
  UNIQUE (network_id, mac_address),
  FOREIGN KEY (network_id) REFERENCES networks (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ports_host ON ports (host_id);
CREATE INDEX ports_device ON ports (device_id);
CREATE INDEX ports_project ON ports (project_id);

CREATE TABLE ipallocations (
  network_id VARCHAR(36) NOT NULL,
  ip_address VARCHAR(64) NOT NULL,
  subnet_id VARCHAR(36) NOT NULL,
  port_id VARCHAR(36) NOT NULL,
  PRIMARY KEY (network_id, ip_address),
  FOREIGN KEY (subnet_id) REFERENCES subnets (id),
  FOREIGN KEY (port_id) REFERENCES ports (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ipallocations_port ON ipallocations (port_id);
CREATE INDEX ipallocations_subnet ON ipallocations (subnet_id);

CREATE TABLE tags (
  kind VARCHAR(16) NOT NULL,
  resource_id VARCHAR(36) NOT NULL,
  tag VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (kind, resource_id, tag)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX tags_tag ON tags (tag);

CREATE TABLE securitygroups (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(255) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE default_security_groups (
  project_id VARCHAR(255) NOT NULL PRIMARY KEY,
  security_group_id VARCHAR(36) NOT NULL,
  FOREIGN KEY (security_group_id) REFERENCES securitygroups (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE agents (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  agent_type VARCHAR(255) NOT NULL,
  agent_binary VARCHAR(255) NOT NULL,
  topic VARCHAR(255) NOT NULL,
  host VARCHAR(255) NOT NULL,
  admin_state_up BOOLEAN NOT NULL,
  description VARCHAR(255) NOT NULL,
  configurations MEDIUMTEXT NOT NULL,
  availability_zone VARCHAR(255) NOT NULL,
  created_at BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  UNIQUE (agent_type, host)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE tunnel_endpoints (
  host VARCHAR(255) NOT NULL PRIMARY KEY,
  ip_address VARCHAR(64) NOT NULL UNIQUE,
  udp_port INTEGER NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE vxlan_allocations (
  vxlan_vni BIGINT NOT NULL PRIMARY KEY,
  allocated BOOLEAN NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX vxlan_allocations_free ON vxlan_allocations (allocated, vxlan_vni);

CREATE TABLE gre_allocations (
  gre_id BIGINT NOT NULL PRIMARY KEY,
  allocated BOOLEAN NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX gre_allocations_free ON gre_allocations (allocated, gre_id);

CREATE TABLE vlan_allocations (
  physical_network VARCHAR(64) NOT NULL,
  vlan_id INTEGER NOT NULL,
  allocated BOOLEAN NOT NULL,
  PRIMARY KEY (physical_network, vlan_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX vlan_allocations_free ON vlan_allocations (physical_network, allocated, vlan_id);

CREATE TABLE flat_allocations (
  physical_network VARCHAR(64) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- +goose Down
DROP TABLE flat_allocations;
DROP TABLE vlan_allocations;
DROP TABLE gre_allocations;
DROP TABLE vxlan_allocations;
DROP TABLE tunnel_endpoints;
DROP TABLE agents;
DROP TABLE default_security_groups;
DROP TABLE securitygroups;
DROP TABLE tags;
DROP TABLE ipallocations;
DROP TABLE ports;
DROP TABLE subnets;
DROP TABLE network_segments;
DROP TABLE networks;
DROP TABLE changes;
DROP TABLE revision;
