-- +goose Up
-- The L3 router service (issue 14): routers, their extra routes, which
-- ports belong to which router, floating IPs. Router ports are ordinary
-- ports (device_id = router id); routerports makes the membership a row
-- the database guards: a port belongs to one router (primary key), and a
-- router cannot be deleted while it has interfaces (foreign key), whatever
-- the concurrency.
CREATE TABLE routers (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(255) NOT NULL,
  admin_state_up BOOLEAN NOT NULL,
  status VARCHAR(16) NOT NULL,
  gw_port_id VARCHAR(36),
  enable_snat BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL,
  FOREIGN KEY (gw_port_id) REFERENCES ports (id)
);
CREATE INDEX routers_project ON routers (project_id);

CREATE TABLE routerroutes (
  router_id VARCHAR(36) NOT NULL,
  destination VARCHAR(64) NOT NULL,
  nexthop VARCHAR(64) NOT NULL,
  PRIMARY KEY (router_id, destination, nexthop),
  FOREIGN KEY (router_id) REFERENCES routers (id) ON DELETE CASCADE
);

CREATE TABLE routerports (
  port_id VARCHAR(36) NOT NULL PRIMARY KEY,
  router_id VARCHAR(36) NOT NULL,
  port_type VARCHAR(255) NOT NULL,
  FOREIGN KEY (router_id) REFERENCES routers (id),
  FOREIGN KEY (port_id) REFERENCES ports (id) ON DELETE CASCADE
);
CREATE INDEX routerports_router ON routerports (router_id);

-- A fixed IP of a port has at most one floating IP per external network
-- and an address is held once per network, as Neutron's constraints
-- (NULLs, i.e. unassociated floating IPs, are distinct everywhere).
CREATE TABLE floatingips (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  description VARCHAR(255) NOT NULL,
  floating_ip_address VARCHAR(64) NOT NULL,
  floating_network_id VARCHAR(36) NOT NULL,
  floating_port_id VARCHAR(36) NOT NULL,
  fixed_port_id VARCHAR(36),
  fixed_ip_address VARCHAR(64),
  router_id VARCHAR(36),
  status VARCHAR(16) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL,
  UNIQUE (floating_network_id, floating_ip_address),
  UNIQUE (floating_network_id, fixed_port_id, fixed_ip_address),
  FOREIGN KEY (floating_network_id) REFERENCES networks (id),
  FOREIGN KEY (floating_port_id) REFERENCES ports (id),
  FOREIGN KEY (fixed_port_id) REFERENCES ports (id),
  FOREIGN KEY (router_id) REFERENCES routers (id)
);
CREATE INDEX floatingips_project ON floatingips (project_id);
CREATE INDEX floatingips_fixed_port ON floatingips (fixed_port_id);
CREATE INDEX floatingips_router ON floatingips (router_id);

-- +goose Down
DROP TABLE floatingips;
DROP TABLE routerports;
DROP TABLE routerroutes;
DROP TABLE routers;
