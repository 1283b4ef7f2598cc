# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)
"""A stand-in ipsecmgr for the module tests: answers the commands the
modules run with JSON documents like ipsecmgr's, and records them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class Exited(Exception):
    def __init__(self, kind, result):
        super(Exited, self).__init__(kind)
        self.kind = kind
        self.result = result


def plan_document(command, fragment, dry_run, status, steps=None, message=None,
                  journal=None):
    steps = steps or []
    result = dict(
        status=status, changed=status == 'done', done=[], pending=[], warnings=[],
        journal=journal or dict(state='clean'))
    if message:
        result['message'] = message
    return dict(version=1, command=command, fragment=fragment, dry_run=dry_run,
                keys_shown=False, steps=steps, result=result)


class FakeIpsecmgr(object):
    """Answers by subcommand; `answers[verb]` is a function of argv giving
    (rc, document)."""

    def __init__(self):
        self.calls = []
        self.fragments = []
        self.tunnels = {}
        # name -> ls state (applied when not given), and the held down
        self.states = {}
        self.held = set()
        self.answers = {}
        # the file each mutating call was given, as it was then: path,
        # text, the file's mode and its directory's
        self.files = []
        # (rc, stdout, stderr) for every command, when set
        self.broken = None
        # the keyword arguments of each call (data: its standard input)
        self.kwargs = []

    def __call__(self, module, args, **kwargs):
        self.calls.append(list(args))
        self.kwargs.append(dict(kwargs))
        if self.broken:
            return self.broken
        verb = next(a for a in args[1:] if not a.startswith('-') and a not in (
            module.params.get('root'), module.params.get('config')))
        if verb == 'ls':
            doc = dict(version=1, fragments=[dict(
                name=n, path='/etc/ipsec.d/%s.conf' % n, line=1, flows=0, sas=0, ike=1,
                state=self.states.get(n, 'applied'), held_down=n in self.held,
                phase1=['peer-%s' % n], phase2=['p2-%s' % n])
                for n in self.fragments])
            return 0, json.dumps(doc), ''
        if verb == 'status':
            doc = dict(version=1, fragments=[dict(
                name=n, flows=0, flows_loaded=0,
                tunnels=[dict(phase1='peer-%s' % n, phase2='p2-%s' % n,
                              state=self.tunnels.get(n, 'down'))])
                for n in self.fragments],
                unaccounted_isakmpd_sas=[], unaccounted_flows=[], unaccounted_sas=[])
            return 0, json.dumps(doc), ''
        for a in args:
            if a.endswith('.conf') and os.path.isfile(a):
                with open(a) as f:
                    text = f.read()
                self.files.append(dict(
                    path=a, text=text, mode=stat.S_IMODE(os.stat(a).st_mode),
                    dir_mode=stat.S_IMODE(os.stat(os.path.dirname(a)).st_mode)))
        rc, doc = self.answers[verb](args)
        return rc, json.dumps(doc), ''


@pytest.fixture
def ipsecmgr(monkeypatch):
    fake = FakeIpsecmgr()

    def run_command(module, args, **kwargs):
        return fake(module, args, **kwargs)

    def exit_json(module, **result):
        raise Exited('exit', result)

    def fail_json(module, **result):
        raise Exited('fail', result)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    return fake


def run_module(main, args):
    """Runs a module's main with `args`; returns ('exit'|'fail', result)."""
    with patch_module_args(args):
        with pytest.raises(Exited) as e:
            main()
    return e.value.kind, e.value.result
