#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: info
short_description: The fragments of an OpenBSD IPsec gateway, their tags and live state
description:
  - Reads C(ipsecmgr ls --json) and, unless O(live=false), C(ipsecmgr status --json) on
    the target, and returns the fragments in include order with their isakmpd tags
    and the state of each tunnel, also as the fact C(ipsecmgr).
  - Changes nothing.
version_added: "0.1.0"
author:
  - ipsecmgr contributors
options:
  live:
    description:
      - Ask isakmpd and the kernel for the live state (C(ipsecmgr status)); needs a
        running isakmpd.
    type: bool
    default: true
extends_documentation_fragment:
  - ipsecmgr.openbsd.common
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
seealso:
  - module: ipsecmgr.openbsd.fragment
'''

EXAMPLES = r'''
- name: What the gateway runs
  ipsecmgr.openbsd.info:
  register: gw

- name: Every tunnel of customer-acme is up
  ansible.builtin.assert:
    that: >-
      gw.status.fragments | selectattr('name', 'equalto', 'customer-acme')
      | map(attribute='tunnels') | flatten | rejectattr('state', 'equalto', 'up') | list
      | length == 0
'''

RETURN = r'''
fragments:
  description: The fragments in include order (C(ipsecmgr ls --json)).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "customer-acme", "path": "/etc/ipsec.d/customer-acme.conf", "line": 4,
            "flows": 0, "sas": 0, "ike": 2, "state": "applied",
            "phase1": ["peer-203.0.113.20"], "phase2": ["from-10.0.50.0/24-to-172.16.10.0/24"]}]
tags:
  description: The isakmpd tags of each fragment, by name.
  returned: always
  type: dict
  sample: {"customer-acme": {"phase1": ["peer-203.0.113.20"], "phase2": ["from-10.0.50.0/24-to-172.16.10.0/24"]}}
status:
  description:
    - The live state (C(ipsecmgr status --json)) - each fragment's tunnels (V(up),
      V(phase1-only), V(down)) and what is live that no fragment accounts for.
  returned: when O(live=true)
  type: dict
ansible_facts:
  description: The same, as facts.
  returned: always
  type: dict
  contains:
    ipsecmgr:
      description: C(fragments), C(tags) and, with O(live=true), C(status).
      type: dict
      returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipsecmgr.openbsd.plugins.module_utils.ipsecmgr import (
    COMMON_ARGS,
    IpsecmgrError,
    run_listing,
)


def gather(module):
    fragments = run_listing(module, ['ls', '--json'])['fragments']
    info = dict(
        fragments=fragments,
        tags=dict((f['name'], dict(phase1=f['phase1'], phase2=f['phase2'])) for f in fragments),
    )
    if module.params['live']:
        status = run_listing(module, ['status', '--json'])
        status.pop('version', None)
        info['status'] = status
    return info


def main():
    argument_spec = dict(live=dict(type='bool', default=True))
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        info = gather(module)
    except IpsecmgrError as e:
        module.fail_json(msg=e.msg, **e.details)
    module.exit_json(changed=False, ansible_facts=dict(ipsecmgr=info), **info)


if __name__ == '__main__':
    main()
