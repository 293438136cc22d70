-- +goose Up
-- Which DHCP agents host which networks (Neutron's networkdhcpagentbindings,
-- the dhcp_agent_scheduler extension). Rows are written by the scheduler in
-- the transaction that changes a network's DHCP subnets or an agent's
-- state; the cascades only clean up after rows removed outside it.
CREATE TABLE networkdhcpagentbindings (
  network_id VARCHAR(36) NOT NULL,
  dhcp_agent_id VARCHAR(36) NOT NULL,
  PRIMARY KEY (network_id, dhcp_agent_id),
  FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE,
  FOREIGN KEY (dhcp_agent_id) REFERENCES agents (id) ON DELETE CASCADE
);
CREATE INDEX networkdhcpagentbindings_agent ON networkdhcpagentbindings (dhcp_agent_id);

-- +goose Down
DROP TABLE networkdhcpagentbindings;
