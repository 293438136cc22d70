-- +goose Up
-- Security groups (issue 13): rules, port membership, stateful.
ALTER TABLE securitygroups ADD COLUMN stateful BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE securitygrouprules (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  security_group_id VARCHAR(36) NOT NULL,
  remote_group_id VARCHAR(36),
  direction VARCHAR(16) NOT NULL,
  ethertype VARCHAR(40) NOT NULL,
  protocol VARCHAR(40),
  port_range_min INTEGER,
  port_range_max INTEGER,
  remote_ip_prefix VARCHAR(255),
  description VARCHAR(255),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL,
  FOREIGN KEY (security_group_id) REFERENCES securitygroups (id) ON DELETE CASCADE,
  FOREIGN KEY (remote_group_id) REFERENCES securitygroups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX securitygrouprules_group ON securitygrouprules (security_group_id);
CREATE INDEX securitygrouprules_remote ON securitygrouprules (remote_group_id);

-- Which port is in which group: the one record of membership (ports
-- render their security_groups from it). The foreign key on the group
-- makes "delete a group in use" and "add a port to it" exclusive on every
-- database, whatever the isolation level.
CREATE TABLE securitygroupportbindings (
  port_id VARCHAR(36) NOT NULL,
  security_group_id VARCHAR(36) NOT NULL,
  PRIMARY KEY (port_id, security_group_id),
  FOREIGN KEY (port_id) REFERENCES ports (id) ON DELETE CASCADE,
  FOREIGN KEY (security_group_id) REFERENCES securitygroups (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX securitygroupportbindings_group ON securitygroupportbindings (security_group_id);

INSERT INTO securitygroupportbindings (port_id, security_group_id)
SELECT p.id, j.sg FROM ports p, JSON_TABLE(p.security_groups, '$[*]' COLUMNS (sg VARCHAR(36) PATH '$')) j WHERE j.sg IN (SELECT id FROM securitygroups);

-- Default groups made before this version have no rules: give them
-- Neutron's four.
INSERT INTO securitygrouprules (id, project_id, security_group_id, remote_group_id, direction, ethertype,
  protocol, port_range_min, port_range_max, remote_ip_prefix, description, created_at, updated_at, revision_number)
SELECT UUID(), g.project_id, g.id, CASE WHEN r.same_group = 1 THEN g.id ELSE NULL END, r.direction, r.ethertype,
  NULL, NULL, NULL, NULL, NULL, g.created_at, g.created_at, 0
FROM securitygroups g JOIN default_security_groups d ON d.security_group_id = g.id
CROSS JOIN (SELECT 'egress' AS direction, 'IPv4' AS ethertype, 0 AS same_group
  UNION ALL SELECT 'egress', 'IPv6', 0 UNION ALL SELECT 'ingress', 'IPv4', 1 UNION ALL SELECT 'ingress', 'IPv6', 1) r;

ALTER TABLE ports DROP COLUMN security_groups;

-- +goose Down
ALTER TABLE ports ADD COLUMN security_groups TEXT NOT NULL DEFAULT '[]';
DROP TABLE securitygroupportbindings;
DROP TABLE securitygrouprules;
ALTER TABLE securitygroups DROP COLUMN stateful;
