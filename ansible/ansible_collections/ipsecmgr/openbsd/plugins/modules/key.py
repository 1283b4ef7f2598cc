#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: key
short_description: Set one pre-shared key of an OpenBSD IPsec gateway with ipsecmgr
description:
  - Sets the pre-shared key macro O(name) in the gateway's keys file (the keys layout,
    the C([keys]) table of ipsecmgr's settings) with C(ipsecmgr key set NAME), which
    also loads the key into isakmpd for the peers whose rules use it, alone; the SAs
    already made stay up, the next phase 1 with those peers uses the new key.
  - The key is given to ipsecmgr on its standard input, as one line, never on its
    command line (where C(ps) shows it to every user).
  - Idempotent; ipsecmgr compares the key with the one the keys file holds, and
    C(changed) is false when it holds that value already. The module never reads the
    keys file and never returns a key.
  - Reads only ipsecmgr's JSON output (C(--json)), never its text.
version_added: "0.1.0"
author:
  - ipsecmgr contributors
options:
  name:
    description:
      - The key's macro name, as the fragments use it (C(psk $customer_acme_psk)),
        declared in the C(names) of the settings' C([keys]) table.
      - Checked by ipsecmgr's rule for key names (letters, digits and C(_), at most 64
        characters) before ipsecmgr is run.
    type: str
    required: true
  value:
    description:
      - The key; keep it in Ansible Vault (C(!vault) or a vaulted variables file).
      - Never logged, and never in the module's result, messages or diff.
      - One line; a line end at its end is taken off, as ipsecmgr does with the line it
        reads, and a key holding another line break is refused before ipsecmgr is run.
      - ipsecmgr takes at least 20 characters, one word as ipsecctl reads a macro's
        value again (letters, digits and punctuation other than brackets, quotes,
        backslash, C(!), C(=), C(/), C(#), C(,) and C($)); a key it refuses fails the
        task with its reason, which names the key by O(name) only.
    type: str
    required: true
extends_documentation_fragment:
  - ipsecmgr.openbsd.common
attributes:
  check_mode:
    support: full
    description:
      - Runs C(ipsecmgr key set -n), which compares the key and plans, and changes
        nothing; C(changed) says whether the key would change.
  diff_mode:
    support: partial
    description:
      - Only the plan's summary, as ipsecmgr redacts it - the keys file and the names of
        the keys that change in it, and the isakmpd FIFO lines that load the key, with
        C(<redacted>) in its place; never a key, nor the keys file's text.
notes:
  - Needs the keys layout on the gateway - C([keys]) in the settings with O(name) in its
    C(names), and the keys file included first by C(ipsec.conf); see ipsecmgr(8), KEYS.
  - A failure returns ipsecmgr's message and the state of its journal; a run that
    was interrupted is completed or rolled back by the next ipsecmgr run.
  - Whatever ipsecmgr prints is returned with any occurrence of the key replaced by
    C(<redacted>) (ipsecmgr prints none; this holds even if it did).
seealso:
  - module: ipsecmgr.openbsd.fragment
  - module: ipsecmgr.openbsd.info
'''

EXAMPLES = r'''
- name: Acme's pre-shared key, from Ansible Vault
  ipsecmgr.openbsd.key:
    name: customer_acme_psk
    value: "{{ vault_customer_acme_psk }}"
'''

RETURN = r'''
ipsecmgr:
  description:
    - ipsecmgr's JSON document (C(version) 1) for C(key set), in a list of one, with the
      steps planned (the keys file's edit, naming the keys that change; the FIFO lines
      loading the key, the key redacted) and the result (C(status) V(done), V(planned),
      V(unchanged) when the keys file holds that key already, or V(failed)).
  returned: when ipsecmgr was run
  type: list
  elements: dict
journal:
  description: The state of ipsecmgr's journal after the run (C(clean) when no run is pending).
  returned: when ipsecmgr was run
  type: dict
  sample: {"state": "clean"}
commands:
  description: The ipsecmgr subcommand run to make the change; empty when nothing changed.
  returned: when ipsecmgr was run
  type: list
  elements: str
  sample: ["key set customer_acme_psk"]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipsecmgr.openbsd.plugins.module_utils.ipsecmgr import (
    COMMON_ARGS,
    IpsecmgrError,
    key_name_problem,
    run_json,
    scrubbed,
)


def summary(doc):
    """The plan's redacted summary, for --diff: the keys file's edit (the
    key names that change) and the FIFO lines loading the key."""
    out = []
    for step in doc.get('steps', []):
        if step.get('kind') == 'edit':
            out.append('%s:\n%s' % (step['path'], step['diff']))
        elif step.get('kind') == 'load-key':
            out.append('load %s into isakmpd:\n' % step['key'])
            out.extend('    %s\n' % line for line in step['lines'])
    return ''.join(out)


def one_line(value):
    """`value` without the line end at its end, as ipsecmgr takes one off the
    line it reads; None when another line break is left, which ipsecmgr
    would take for the end of the key."""
    if value.endswith('\n'):
        value = value[:-1]
        if value.endswith('\r'):
            value = value[:-1]
    if '\n' in value or '\r' in value:
        return None
    return value


class Run(object):
    """The ipsecmgr key set of one module run and what it reported, the
    key taken out of all of it."""

    def __init__(self, module, key):
        self.module = module
        self.key = key
        self.documents = []
        self.commands = []
        self.changed = False
        self.journal = {'state': 'clean'}

    def clean(self, value):
        return scrubbed(value, self.key)

    def key_set(self):
        params = self.module.params
        name = params['name']
        args = ['key', 'set', '--json']
        if self.module.check_mode:
            args.append('-n')
        args.append(name)
        # the key on standard input, one line: never in argv
        rc, doc, stderr = run_json(self.module, args, data=self.key + '\n')
        doc = self.clean(doc)
        self.documents.append(doc)
        result = doc['result']
        self.journal = result['journal']
        if result['status'] == 'failed':
            self.fail(result.get('message') or stderr.strip(), rc)
        if result['status'] in ('done', 'planned') and doc['steps']:
            self.changed = True
            self.commands.append('key set %s' % name)

    def fail(self, msg, rc=None):
        self.module.fail_json(
            msg=self.clean(msg), rc=rc, journal=self.journal, ipsecmgr=self.documents,
            commands=self.commands)


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        value=dict(type='str', required=True, no_log=True),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problem = key_name_problem(params['name'])
    if problem:
        module.fail_json(msg=problem)
    key = one_line(params['value'])
    if key is None:
        module.fail_json(msg='%s: the key holds a line break; a key is one line' % params['name'])
    run = Run(module, key)
    try:
        run.key_set()
    except IpsecmgrError as e:
        run.fail(e.msg, e.details.get('rc'))
    result = dict(
        changed=run.changed, journal=run.journal, ipsecmgr=run.documents,
        commands=run.commands)
    if module._diff:
        result['diff'] = {'prepared': ''.join(summary(d) for d in run.documents)}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
