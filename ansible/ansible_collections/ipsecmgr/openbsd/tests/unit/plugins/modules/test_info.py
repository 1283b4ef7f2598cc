# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ipsecmgr.openbsd.plugins.modules import info

from .conftest import run_module


def test_fragments_tags_and_status_as_facts(ipsecmgr):
    ipsecmgr.fragments = ['a', 'b']
    ipsecmgr.tunnels['b'] = 'up'
    kind, result = run_module(info.main, dict())
    assert kind == 'exit'
    assert result['changed'] is False
    assert [f['name'] for f in result['fragments']] == ['a', 'b']
    assert result['tags']['b'] == dict(phase1=['peer-b'], phase2=['p2-b'])
    assert result['status']['fragments'][1]['tunnels'][0]['state'] == 'up'
    assert result['ansible_facts']['ipsecmgr']['tags'] == result['tags']


def test_without_live_status_is_not_asked(ipsecmgr):
    kind, result = run_module(info.main, dict(live=False))
    assert kind == 'exit'
    assert 'status' not in result
    assert [c[1] for c in ipsecmgr.calls] == ['ls']
