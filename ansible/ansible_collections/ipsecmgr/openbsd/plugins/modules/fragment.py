#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: fragment
short_description: Load, change, tear down or remove one IPsec tunnel file with ipsecmgr
description:
  - Manages one fragment of an OpenBSD gateway's C(ipsec.conf) (a file it includes,
    one per tunnel or customer) with the C(ipsecmgr) binary on the target, touching
    only that fragment's rules and connections; the other tunnels stay up.
  - Reads only ipsecmgr's JSON output (C(--json)), never its text.
  - Idempotent; C(changed) is true only when ipsecmgr changed something.
version_added: "0.1.0"
author:
  - ipsecmgr contributors
options:
  name:
    description:
      - The fragment's name, its file name in the fragment directory without C(.conf).
    type: str
    required: true
  src:
    description:
      - A file on the target holding the fragment's new text.
      - Without O(src) and O(content), the file already in the fragment directory is used.
    type: path
  content:
    description:
      - The fragment's new text.
      - Holds pre-shared keys, so it is never logged.
    type: str
  state:
    description:
      - V(present) - the fragment is included in C(ipsec.conf) and loaded, with the
        given text (C(ipsecmgr add) or C(ipsecmgr apply)).
      - V(absent) - its tunnels are unloaded, its include line removed and its file
        moved aside (C(ipsecmgr rm)).
      - V(down) - present, with its connections torn down in isakmpd (C(ipsecmgr down));
        changed only when a tunnel of it was up.
      - V(present) does not bring connections that were torn down up again; run
        C(ipsecmgr up) for that.
    type: str
    choices: [present, absent, down]
    default: present
  binary:
    description: The ipsecmgr program on the target.
    type: path
    default: ipsecmgr
  root:
    description:
      - Passed as C(--root); every path of the gateway is taken under it (for tests and
        checkouts).
    type: path
  config:
    description: ipsecmgr's settings file, passed as C(-c).
    type: path
attributes:
  check_mode:
    support: full
    description: Runs ipsecmgr with C(-n), which plans and changes nothing.
  diff_mode:
    support: full
    description: The file edits ipsecmgr plans, as unified diffs, keys redacted.
notes:
  - A failure returns ipsecmgr's message and the state of its journal; a run that
    was interrupted is completed or rolled back by the next ipsecmgr run.
seealso:
  - module: ipsecmgr.openbsd.info
'''

EXAMPLES = r'''
- name: Tunnel to customer Acme, from a file the controller renders
  ipsecmgr.openbsd.fragment:
    name: customer-acme
    content: "{{ lookup('ansible.builtin.template', 'customer-acme.conf.j2') }}"

- name: Take customer Acme's tunnels down, keeping the configuration
  ipsecmgr.openbsd.fragment:
    name: customer-acme
    state: down

- name: Remove customer Initech
  ipsecmgr.openbsd.fragment:
    name: customer-initech
    state: absent
'''

RETURN = r'''
ipsecmgr:
  description:
    - ipsecmgr's JSON documents (C(version) 1) for the commands run, in order, each with
      the steps planned (file edits with their diffs, ipsecctl runs, FIFO lines; keys
      redacted) and the result.
  returned: when ipsecmgr was run to change something
  type: list
  elements: dict
journal:
  description: The state of ipsecmgr's journal after the run (C(clean) when no run is pending).
  returned: always
  type: dict
  sample: {"state": "clean"}
commands:
  description: The ipsecmgr subcommands run to make the change.
  returned: always
  type: list
  elements: str
  sample: ["apply customer-acme"]
'''

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipsecmgr.openbsd.plugins.module_utils.ipsecmgr import (
    COMMON_ARGS,
    IpsecmgrError,
    edits_diff,
    run_json,
    run_listing,
)


def included(module, name):
    """Whether ipsec.conf includes fragment `name` (ipsecmgr ls)."""
    doc = run_listing(module, ['ls', '--json'])
    return any(f['name'] == name for f in doc['fragments'])


def tunnels_up(module, name):
    """Whether any tunnel of `name` is up or half up (ipsecmgr status)."""
    doc = run_listing(module, ['status', '--json', name])
    for fragment in doc['fragments']:
        if fragment['name'] == name:
            return any(t['state'] != 'down' for t in fragment['tunnels'])
    return False


class Run(object):
    """The ipsecmgr commands of one module run and what they reported."""

    def __init__(self, module):
        self.module = module
        self.documents = []
        self.commands = []
        self.changed = False
        self.journal = {'state': 'clean'}
        # the temporary file holding the new text, and how messages name
        # it: it is gone once the module ends
        self.temporary = None
        self.shown = None

    def named(self, text):
        """`text` naming the new text as the user gave it, not by the
        temporary file it was written to."""
        if self.temporary and text:
            return text.replace(self.temporary, self.shown)
        return text

    def mutate(self, args):
        """Runs a mutating command with --json (and -n in check mode)."""
        verb, rest = args[0], list(args[1:])
        flags = ['--json'] + (['-n'] if self.module.check_mode else [])
        rc, doc, stderr = run_json(self.module, [verb] + flags + rest)
        self.documents.append(doc)
        result = doc['result']
        self.journal = result['journal']
        if result['status'] == 'failed':
            self.fail(self.named(result.get('message') or stderr.strip()), rc)
        if result['status'] in ('done', 'planned') and doc['steps']:
            self.changed = True
            self.commands.append(' '.join([verb] + [self.named(a) for a in rest]))

    def fail(self, msg, rc=None):
        self.module.fail_json(
            msg=msg, rc=rc, journal=self.journal, ipsecmgr=self.documents,
            commands=self.commands)

    def diff(self):
        return {'prepared': ''.join(edits_diff(d) for d in self.documents)}


def new_text_file(module, tmpdir):
    """The fragment's new text as NAME.conf in `tmpdir`, or None when the file
    in the fragment directory is meant."""
    params = module.params
    path = os.path.join(tmpdir, params['name'] + '.conf')
    if params['content'] is not None:
        with open(path, 'w') as f:
            f.write(params['content'])
    elif params['src']:
        if not os.path.isfile(params['src']):
            module.fail_json(msg='src %s: no such file on the target' % params['src'])
        shutil.copyfile(params['src'], path)
    else:
        return None
    os.chmod(path, 0o600)
    return path


def ensure_present(run, module, tmpdir):
    name = module.params['name']
    path = new_text_file(module, tmpdir)
    if path:
        # messages name the fragment's text as given: the src file, or the
        # module's content for the fragment, with their own line numbers
        run.temporary = path
        run.shown = module.params['src'] or 'content for %s.conf' % name
    if included(module, name):
        run.mutate(['apply', name] + ([path] if path else []))
    else:
        run.mutate(['add', path or name])


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        src=dict(type='path'),
        content=dict(type='str', no_log=True),
        state=dict(type='str', default='present', choices=['present', 'absent', 'down']),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('src', 'content')],
        supports_check_mode=True,
    )
    name = module.params['name']
    state = module.params['state']
    run = Run(module)
    tmpdir = tempfile.mkdtemp(prefix='ipsecmgr-', dir=module.tmpdir)
    try:
        if state == 'absent':
            if included(module, name):
                run.mutate(['rm', name])
        else:
            ensure_present(run, module, tmpdir)
            # in check mode a fragment being added is not loaded: nothing to tear down
            if state == 'down' and included(module, name) and tunnels_up(module, name):
                run.mutate(['down', name])
    except IpsecmgrError as e:
        run.fail(e.msg, e.details.get('rc'))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    result = dict(
        changed=run.changed, journal=run.journal, ipsecmgr=run.documents,
        commands=run.commands)
    if module._diff:
        result['diff'] = run.diff()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
