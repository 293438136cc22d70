# run.sh puts this directory on PYTHONPATH for Tempest. Debian's tempest
# package patches SubnetsClient.delete_subnet to sleep 10 s before every
# DELETE /v2.0/subnets/{id} (add-delay-in-subnet-teardown.patch, not in
# upstream Tempest): it waits for DHCP agents to release their ports. No agent
# runs here, and the sleep would be most of a run's time, so the upstream
# method is restored. Only timing changes; every request is still made.
try:
    from tempest.lib.services.network import subnets_client

    def _delete_subnet(self, subnet_id):
        return self.delete_resource('/subnets/%s' % subnet_id)

    subnets_client.SubnetsClient.delete_subnet = _delete_subnet
except ImportError:  # a Python process that is not Tempest
    pass
