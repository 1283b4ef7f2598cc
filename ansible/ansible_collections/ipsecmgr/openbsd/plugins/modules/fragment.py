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
      - The fragment's name, its file name in the fragment directory without C(.conf)
        (C(sub/acme) for a fragment in a subdirectory of it).
      - Checked by ipsecmgr's own rule for fragment names (letters, digits, C(.), C(_)
        and C(-), not starting with C(-) or C(.)) before anything is written.
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
      - V(down) - present, with its connections torn down in isakmpd and held down
        (C(ipsecmgr down)), so that none comes up later; changed only when it was not
        held down yet, whether or not a tunnel of it was up.
      - V(present) does not bring connections that were torn down up again; run
        C(ipsecmgr up) for that.
      - V(present) or V(down) for a fragment C(ipsecmgr rm --config-only) took out of
        C(ipsec.conf), still loaded, puts its file back (C(ipsecmgr add --config-only),
        which needs O(content) or O(src)), then applies it.
      - A fragment in a subdirectory of the fragment directory is changed only when
        C(ipsec.conf) includes it already (C(ipsecmgr add) installs in the fragment
        directory itself).
    type: str
    choices: [present, absent, down]
    default: present
extends_documentation_fragment:
  - ipsecmgr.openbsd.common
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
  - The new text waits for ipsecmgr in a directory only the user running the module
    can enter, as a file of mode 0600.
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
    fragment_name_problem,
    run_json,
    run_listing,
)


def listed(module, name):
    """The entry of fragment `name` in ipsecmgr ls, or None."""
    doc = run_listing(module, ['ls', '--json'])
    for f in doc['fragments']:
        if f['name'] == name:
            return f
    return None


def included(entry):
    """Whether an ls entry is in ipsec.conf: one `rm --config-only` took
    out is listed as removed (still loaded)."""
    return entry is not None and entry['state'] != 'removed'


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


def new_text_file(module, tmpdir, file_name):
    """The fragment's new text as `file_name` in the private `tmpdir`, or
    None when the file in the fragment directory is meant.  The name is
    fixed, or the fragment's name checked by ipsecmgr's rule: never a path
    that leads elsewhere."""
    params = module.params
    if params['content'] is None and not params['src']:
        return None
    if params['src'] and not os.path.isfile(params['src']):
        module.fail_json(msg='src %s: no such file on the target' % params['src'])
    path = os.path.join(tmpdir, file_name)
    # created here and nowhere else: not through a link, not over a file
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o600)
    with os.fdopen(fd, 'wb') as f:
        if params['content'] is not None:
            f.write(params['content'].encode('utf-8'))
        else:
            with open(params['src'], 'rb') as source:
                shutil.copyfileobj(source, f)
    return path


def name_the_text(run, module, path):
    """Messages name the fragment's text as given, the src file or the
    module's content for the fragment, with their own line numbers, not
    the temporary file it was written to."""
    if path:
        run.temporary = path
        run.shown = module.params['src'] or 'content for %s.conf' % module.params['name']


def ensure_present(run, module, tmpdir):
    name = module.params['name']
    entry = listed(module, name)
    if included(entry):
        # apply takes the name apart from the file: a fixed file name
        path = new_text_file(module, tmpdir, 'new.conf')
        name_the_text(run, module, path)
        run.mutate(['apply', name] + ([path] if path else []))
        return
    if '/' in name:
        module.fail_json(msg='%s: not included by ipsec.conf, and ipsecmgr add installs '
                         'fragments in the fragment directory itself, not in a subdirectory; '
                         'include the file by hand, then this module changes it' % name)
    # add names the fragment after its file: NAME.conf, NAME checked
    path = new_text_file(module, tmpdir, name + '.conf')
    name_the_text(run, module, path)
    if entry is None:
        run.mutate(['add', path or name])
        return
    # taken out with rm --config-only, still loaded: back into the
    # configuration, then loaded (apply alone would load a file nothing
    # includes, which ipsecmgr refuses)
    if path is None:
        module.fail_json(msg='%s was taken out of ipsec.conf with rm --config-only and is '
                         'still loaded; give content or src to put it back, or state=absent '
                         'to unload it' % name)
    run.mutate(['add', '--config-only', path])
    # in check mode it was not put back: there is nothing to apply yet
    if not module.check_mode:
        run.mutate(['apply', name])


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
    problem = fragment_name_problem(name)
    if problem:
        module.fail_json(msg=problem)
    run = Run(module)
    # private: mode 0700, only this user enters it
    tmpdir = tempfile.mkdtemp(prefix='ipsecmgr-', dir=module.tmpdir)
    try:
        if state == 'absent':
            if listed(module, name) is not None:
                run.mutate(['rm', name])
        else:
            ensure_present(run, module, tmpdir)
            # held down, not only torn down: a tunnel not up now would come
            # up later.  In check mode a fragment being added is not loaded
            # yet: nothing to take down
            entry = listed(module, name)
            if state == 'down' and included(entry) and not entry.get('held_down'):
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
