-- +goose Up
-- Which L3 agent hosts which router (Neutron's routerl3agentbindings, the
-- l3_agent_scheduler extension). A legacy router lives on one agent, so
-- router_id is the key: two schedulers placing one router at once collide
-- and the loser's retry sees the binding. Rows are written by the
-- scheduler in the transaction that creates, changes or deletes the
-- router (no foreign key to routers: the router plugin removes a router's
-- binding with it, and emits that change); the agent cascade only cleans
-- up after an agent row removed outside the scheduler.
CREATE TABLE routerl3agentbindings (
  router_id VARCHAR(36) NOT NULL,
  l3_agent_id VARCHAR(36) NOT NULL,
  binding_index INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (router_id),
  FOREIGN KEY (l3_agent_id) REFERENCES agents (id) ON DELETE CASCADE
);
CREATE INDEX routerl3agentbindings_agent ON routerl3agentbindings (l3_agent_id);

-- +goose Down
DROP TABLE routerl3agentbindings;
