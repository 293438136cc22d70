#!/usr/bin/python3
"""Registers the server under test in a freshly bootstrapped Keystone.

Creates (if missing) the roles member/reader/service, the project "service"
with the user the server validates tokens as (roles admin and service there),
and a "network" service with public/internal/admin endpoints in REGION.
Usage: keystone_catalog.py URL ADMIN_PASSWORD SERVICE_PASSWORD REGION ENDPOINT
"""
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3

url, admin_pw, svc_pw, region, endpoint = sys.argv[1:6]
s = session.Session(auth=v3.Password(
    auth_url=url, username='admin', password=admin_pw, project_name='admin',
    user_domain_id='default', project_domain_id='default'))
base = url.rstrip('/')


def listed(coll, **query):
    return s.get(base + '/' + coll, params=query).json()[coll]


def create(coll, body):
    one = coll[:-1]
    return s.post(base + '/' + coll, json={one: body}).json()[one]


roles = {r['name']: r['id'] for r in listed('roles')}
for name in ('member', 'reader', 'service'):
    if name not in roles:
        roles[name] = create('roles', {'name': name})['id']
project = (listed('projects', name='service') or
           [create('projects', {'name': 'service', 'domain_id': 'default'})])[0]
user = (listed('users', name='neutron') or
        [create('users', {'name': 'neutron', 'domain_id': 'default', 'password': svc_pw,
                          'default_project_id': project['id']})])[0]
for name in ('admin', 'service'):
    s.put('%s/projects/%s/users/%s/roles/%s' % (base, project['id'], user['id'], roles[name]))
service = (listed('services', type='network') or
           [create('services', {'type': 'network', 'name': 'neutron'})])[0]
if region not in {r['id'] for r in listed('regions')}:
    create('regions', {'id': region})
have = {e['interface']: e for e in listed('endpoints', service_id=service['id'])
        if e['region_id'] == region}
for iface in ('public', 'internal', 'admin'):
    if iface in have:
        s.patch('%s/endpoints/%s' % (base, have[iface]['id']), json={'endpoint': {'url': endpoint}})
    else:
        create('endpoints', {'service_id': service['id'], 'interface': iface,
                             'url': endpoint, 'region_id': region})
print('keystone: network endpoint %s in region %s; service user neutron in project service'
      % (endpoint, region))
