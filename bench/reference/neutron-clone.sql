-- Tops network @net up to @target ports by copying one port that Neutron itself
-- created on that network (the template), row for row, into every table a port
-- has here: standardattributes, ports, ipallocations, ipamallocations,
-- ml2_port_bindings, securitygroupportbindings. New rows differ only in id,
-- name (list-<k>), MAC (fa:16:3e:ab:xx:xx), IP (offset 20000+k in the /16) and
-- timestamps. Used by neutron-fixture.sh because Neutron makes ~5-10 ports/s here.
-- Set @net (network name) and @target before sourcing.
SET @net_id = (SELECT id FROM networks WHERE name = @net);
SET @have = (SELECT COUNT(*) FROM ports WHERE network_id = @net_id);
SET @tpl = (SELECT id FROM ports WHERE network_id = @net_id ORDER BY id LIMIT 1);
SET @tpl_ip = (SELECT ip_address FROM ipallocations WHERE port_id = @tpl);
SET @subnet = (SELECT subnet_id FROM ipallocations WHERE port_id = @tpl);
SET @ipam_subnet = (SELECT ipam_subnet_id FROM ipamallocations a JOIN ipamsubnets s ON s.id = a.ipam_subnet_id
                    WHERE a.ip_address = @tpl_ip AND s.neutron_subnet_id = @subnet);
SET @base_ip = INET_ATON(@tpl_ip) & 0xFFFF0000;
SET @sa = (SELECT MAX(id) FROM standardattributes);
DROP TEMPORARY TABLE IF EXISTS clone;
CREATE TEMPORARY TABLE clone (k INT PRIMARY KEY, pid VARCHAR(36), mac VARCHAR(32), ip VARCHAR(64), sa BIGINT);
INSERT INTO clone
  SELECT seq, UUID(),
         CONCAT('fa:16:3e:ab:', LPAD(LOWER(HEX(seq >> 8)), 2, '0'), ':', LPAD(LOWER(HEX(seq & 255)), 2, '0')),
         INET_NTOA(@base_ip + 20000 + seq), @sa + seq
  FROM seq_1_to_40000 WHERE seq <= @target - @have;
START TRANSACTION;
INSERT INTO standardattributes (id, resource_type, created_at, updated_at, description, revision_number)
  SELECT c.sa, s.resource_type, NOW(), NOW(), s.description, s.revision_number
  FROM clone c JOIN ports p ON p.id = @tpl JOIN standardattributes s ON s.id = p.standard_attr_id;
INSERT INTO ports (project_id, id, name, network_id, mac_address, admin_state_up, status, device_id, device_owner, standard_attr_id, ip_allocation)
  SELECT p.project_id, c.pid, CONCAT('list-', @have + c.k - 1), p.network_id, c.mac, p.admin_state_up, p.status, p.device_id, p.device_owner, c.sa, p.ip_allocation
  FROM clone c JOIN ports p ON p.id = @tpl;
INSERT INTO ipallocations (port_id, ip_address, subnet_id, network_id)
  SELECT c.pid, c.ip, @subnet, @net_id FROM clone c;
INSERT INTO ipamallocations (ip_address, status, ipam_subnet_id)
  SELECT c.ip, a.status, a.ipam_subnet_id FROM clone c JOIN ipamallocations a ON a.ip_address = @tpl_ip AND a.ipam_subnet_id = @ipam_subnet;
INSERT INTO ml2_port_bindings (port_id, host, vif_type, vnic_type, profile, vif_details, status)
  SELECT c.pid, b.host, b.vif_type, b.vnic_type, b.profile, b.vif_details, b.status
  FROM clone c JOIN ml2_port_bindings b ON b.port_id = @tpl;
INSERT INTO securitygroupportbindings (port_id, security_group_id)
  SELECT c.pid, g.security_group_id FROM clone c JOIN securitygroupportbindings g ON g.port_id = @tpl;
COMMIT;
SELECT @net AS network, @have AS made_by_neutron_api, (SELECT COUNT(*) FROM ports WHERE network_id = @net_id) AS ports_now;
